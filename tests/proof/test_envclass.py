"""The environment class grammar: canonical classes round-trip, everything else is refused (an
attacker naming a private class to be its own only verifier), and this machine measures a class
the grammar accepts."""

from __future__ import annotations

import dataclasses
import platform
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnet.errors import MalformedInput, Rejected, UsageError
from nnet.proof import envclass
from nnet.proof.envclass import (
    CPU_FAMILIES,
    MAX_CLASS_LENGTH,
    MAX_THREADS,
    EnvClass,
    format_env_class,
    is_canonical_env_class,
    measure_environment,
    parse_env_class,
)

CPU = "cpu/linux/x86_64/GenuineIntel/AVX512/torch-2.13.0+cpu/t1"
H100 = "cuda/sm90/cuda-13.0/cudnn-91900/torch-2.11.0+cu130"
VALID = [
    CPU,
    H100,
    "cpu/linux/x86_64/AuthenticAMD/AVX2/torch-2.5.1+cpu/t16",
    "cpu/windows/x86_64/GenuineIntel/DEFAULT/torch-2.13.0+cpu/t1024",
    "cpu/darwin/aarch64/Apple/DEFAULT/torch-2.13.0/t8",
    "cpu/linux/aarch64/ARM/SVE256/torch-2.9.0/t4",
    "cpu/linux/ppc64le/IBM/VSX/torch-2.4.0/t1",
    "cpu/linux/s390x/IBM/ZVECTOR/torch-2.4.0/t2",
    "cuda/sm100/cuda-12.8/cudnn-90800/torch-2.7.0+cu128",
    "cuda/sm80/cuda-11.8/cudnn-8902/torch-2.1.0+cu118",
    "cuda/sm121/cuda-13.0/cudnn-91900/torch-2.10.0.dev20251101+cu130",
    "cuda/sm90/cuda-12.8/cudnn-90700/torch-2.6.0a0+ecf3bae40a.nv25.1",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_classes_round_trip(text: str) -> None:
    c = parse_env_class(text)
    assert format_env_class(c) == str(c) == text
    assert parse_env_class(format_env_class(c)) == c
    assert is_canonical_env_class(text)


def test_fields_are_parsed_not_just_matched() -> None:
    assert parse_env_class(CPU) == EnvClass(
        "cpu", "2.13.0+cpu", os="linux", machine="x86_64", vendor="GenuineIntel", isa="AVX512",
        threads=1,
    )  # fmt: skip
    assert parse_env_class(H100) == EnvClass(
        "cuda", "2.11.0+cu130", sm="9.0", cuda="13.0", cudnn=91900
    )
    assert parse_env_class("cuda/sm100/cuda-12.8/cudnn-90800/torch-2.7.0").sm == "10.0"
    assert parse_env_class("cuda/sm12/cuda-12.8/cudnn-90800/torch-2.7.0").sm == "1.2"


# ---- generated classes ------------------------------------------------------------------------
_num = st.integers(0, 10**8 - 1).map(str)
_local = st.lists(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=3)
torch_versions = st.builds(
    lambda a, b, c, pre, dev, local: f"{a}.{b}.{c}{pre}{dev}{local}",
    st.integers(0, 30).map(str),
    st.integers(0, 30).map(str),
    _num,
    st.one_of(st.just(""), st.tuples(st.sampled_from(["a", "b", "rc"]), _num).map("".join)),
    st.one_of(st.just(""), _num.map(lambda n: f".dev{n}")),
    st.one_of(st.just(""), _local.map(lambda parts: "+" + ".".join(parts))),
)


@st.composite
def cpu_classes(draw: st.DrawFn) -> EnvClass:
    machine = draw(st.sampled_from(sorted(CPU_FAMILIES)))
    family = CPU_FAMILIES[machine]
    return EnvClass(
        "cpu",
        draw(torch_versions),
        os=draw(st.sampled_from(family.systems)),
        machine=machine,
        vendor=draw(st.sampled_from(family.vendors)),
        isa=draw(st.sampled_from(family.isas)),
        threads=draw(st.integers(1, MAX_THREADS)),
    )


cuda_classes = st.builds(
    lambda torch, major, minor, cuda, cudnn: EnvClass(
        "cuda", torch, sm=f"{major}.{minor}", cuda=cuda, cudnn=cudnn
    ),
    torch_versions,
    st.integers(1, 99),
    st.integers(0, 9),
    st.builds(lambda a, b: f"{a}.{b}", st.integers(1, 99), st.integers(0, 99)),
    st.integers(1000, 9_999_999),
)


@given(st.one_of(cpu_classes(), cuda_classes))
def test_generated_classes_round_trip(c: EnvClass) -> None:
    text = format_env_class(c)
    assert len(text) <= MAX_CLASS_LENGTH and text.isascii()
    assert parse_env_class(text) == c
    assert format_env_class(parse_env_class(text)) == text


@given(
    st.sampled_from(VALID),
    st.integers(0, MAX_CLASS_LENGTH),
    st.sampled_from([*"0123456789/.-+_aAzZtT ", "\n", "\u0430", "\uff11", ""]),
    st.booleans(),
)
def test_no_class_has_two_spellings(valid: str, at: int, ch: str, insert: bool) -> None:
    """Any edit of a valid class is refused or is itself canonical: no alias of another class."""
    at = min(at, len(valid))
    edited = valid[:at] + ch + valid[at + (0 if insert else 1) :]
    try:
        c = parse_env_class(edited)
    except MalformedInput:
        return
    assert format_env_class(c) == edited
    assert (c == parse_env_class(valid)) == (edited == valid)


@given(st.text(max_size=150))
def test_arbitrary_text_is_refused_or_canonical(text: str) -> None:
    assert not is_canonical_env_class(text) or format_env_class(parse_env_class(text)) == text


# ---- an attacker's strings ----------------------------------------------------------------------
ATTACKS = {
    "free text": ("my-private-class", "device"),
    "the old class format": ("cpu/x86_64/GenuineIntel/AVX512/2.13.0+cpu/t1", "fields"),
    "trailing newline": (CPU + "\n", "'\\n'"),
    "leading space": (" " + CPU, "character 1"),
    "trailing slash": (CPU + "/", "fields"),
    "an extra field": (CPU.replace("/t1", "/t1/mine"), "fields"),
    "a missing field": (H100.replace("/cudnn-91900", ""), "fields"),
    "an empty field": (CPU.replace("/linux/", "//"), "os is empty"),
    "cyrillic a in AuthenticAMD": (CPU.replace("GenuineIntel", "Authentic\u0410MD"), "character"),
    "fullwidth digit": (CPU.replace("/t1", "/t\uff11"), "character"),
    "lower-case vendor": (CPU.replace("GenuineIntel", "genuineintel"), "vendor"),
    "lower-case isa": (CPU.replace("AVX512", "avx512"), "ISA"),
    "upper-case device": (CPU.replace("cpu/", "CPU/", 1), "device"),
    "upper-case os": (CPU.replace("linux", "Linux"), "os"),
    "upper-case local version": (CPU.replace("+cpu", "+CPU"), "torch version"),
    "torch's spelling of the isa": (CPU.replace("AVX512", "NO AVX"), "character"),
    "an isa of another machine": (CPU.replace("AVX512", "VSX"), "ISA"),
    "a vendor of another machine": (CPU.replace("GenuineIntel", "Apple"), "vendor"),
    "an os the machine has not": ("cpu/darwin/s390x/IBM/ZVECTOR/torch-2.4.0/t1", "os"),
    "path traversal": ("cpu/../../etc/passwd/torch-2.13.0/t1", "machine"),
    "path traversal in torch": (CPU.replace("2.13.0+cpu", ".."), "torch version"),
    "threads 0": (CPU.replace("/t1", "/t0"), "threads"),
    "threads 99999": (CPU.replace("/t1", "/t99999"), "threads"),
    "threads 1025": (CPU.replace("/t1", "/t1025"), "threads"),
    "threads with a leading zero": (CPU.replace("/t1", "/t01"), "threads"),
    "threads on a GPU class": (H100 + "/t1", "fields"),
    "sm with a dot": (H100.replace("sm90", "sm9.0"), "sm"),
    "sm with a leading zero": (H100.replace("sm90", "sm090"), "sm"),
    "cuda with a leading zero": (H100.replace("cuda-13.0", "cuda-13.00"), "CUDA version"),
    "cudnn too short": (H100.replace("91900", "9"), "cudnn"),
    "unknown device": (H100.replace("cuda/", "rocm/", 1), "device"),
    "overlong": (CPU.replace("+cpu", "+" + "a" * 120), "more than 120"),
    "empty": ("", "empty"),
}


@pytest.mark.parametrize(("text", "names"), list(ATTACKS.values()), ids=list(ATTACKS))
def test_attacker_strings_are_refused_naming_the_part(text: str, names: str) -> None:
    assert not is_canonical_env_class(text)
    with pytest.raises(MalformedInput) as e:
        parse_env_class(text)
    assert names in e.value.message
    assert len(e.value.message) < 200  # the message never echoes an attacker's megabyte


@pytest.mark.parametrize("value", [None, 7, b"cpu", ["cpu"], {"device": "cpu"}])
def test_non_strings_are_refused(value: object) -> None:
    assert not is_canonical_env_class(value)
    with pytest.raises(MalformedInput, match="must be a string"):
        parse_env_class(value)


def test_an_invalid_class_cannot_be_constructed() -> None:
    good = parse_env_class(CPU)
    for change in (
        {"threads": 0},
        {"threads": True},
        {"threads": "1"},
        {"vendor": "Unknown"},
        {"sm": "9.0"},  # a GPU field on a cpu class
        {"torch": "2.13.0 "},
        {"device": "tpu"},
    ):
        with pytest.raises(MalformedInput):
            dataclasses.replace(good, **change)
    gpu = parse_env_class(H100)
    for change in ({"threads": 1}, {"sm": "90"}, {"sm": "9.10"}, {"cudnn": 999}, {"cuda": "13"}):
        with pytest.raises(MalformedInput):
            dataclasses.replace(gpu, **change)
    long_torch = "2.13.0+" + "a" * 32 + ("." + "b" * 32) * 3  # each part fine, the whole too long
    with pytest.raises(MalformedInput, match="longer than 120"):
        dataclasses.replace(good, torch=long_torch)


def test_the_chain_can_parse_without_torch() -> None:
    code = "import sys; from nnet.proof.envclass import parse_env_class as p; "
    code += f"p({CPU!r}); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- measuring this machine -------------------------------------------------------------------
def test_this_machine_measures_a_canonical_class() -> None:
    env = measure_environment("cpu", 3)
    c = parse_env_class(env["class"])
    assert format_env_class(c) == env["class"]
    assert (c.device, c.threads, c.torch) == ("cpu", 3, env["torch"])
    assert (c.os, c.machine, c.vendor, c.isa) == (
        env["os"],
        env["machine"],
        env["vendor"],
        env["isa"],
    )
    assert env["deterministic"] is True
    # the thread count is part of a cpu class
    assert measure_environment("cpu", 1)["class"] != env["class"]


def test_measuring_refuses_bad_arguments() -> None:
    with pytest.raises(UsageError, match="device"):
        measure_environment("tpu", 1)
    for threads in (0, MAX_THREADS + 1):
        with pytest.raises(UsageError, match="threads"):
            measure_environment("cpu", threads)


def test_measuring_cuda_where_there_is_no_gpu_is_refused() -> None:
    import torch

    if torch.cuda.is_available():
        c = parse_env_class(measure_environment("cuda", 1)["class"])
        assert c.device == "cuda" and c.threads is None
    else:
        with pytest.raises(UsageError, match="no CUDA device"):
            measure_environment("cuda", 1)


def _fake_machine(
    monkeypatch: pytest.MonkeyPatch, machine: str, cpuinfo: dict[str, str], isa: str
) -> None:
    """A Linux machine that reports `machine`, `cpuinfo` and torch's CPU capability `isa`."""
    import torch

    monkeypatch.setattr(sys, "platform", "linux")  # the modules envclass reads
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(envclass, "_cpuinfo", lambda: cpuinfo)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: isa)


@pytest.mark.parametrize(
    ("machine", "cpuinfo", "isa", "expected"),
    [
        ("x86_64", {"vendor_id": "GenuineIntel"}, "NO AVX", "linux/x86_64/GenuineIntel/DEFAULT"),
        ("AMD64", {"vendor_id": "AuthenticAMD"}, "AVX2", "linux/x86_64/AuthenticAMD/AVX2"),
        ("aarch64", {"CPU implementer": "0x41"}, "SVE256", "linux/aarch64/ARM/SVE256"),
        ("aarch64", {"CPU implementer": "0x4e"}, "DEFAULT", "linux/aarch64/NVIDIA/DEFAULT"),
        ("s390x", {"vendor_id": "IBM/S390"}, "Z VECTOR", "linux/s390x/IBM/ZVECTOR"),
        ("ppc64le", {"cpu": "POWER9"}, "VSX", "linux/ppc64le/IBM/VSX"),
    ],
)
def test_measurements_map_to_canonical_names(
    monkeypatch: pytest.MonkeyPatch, machine: str, cpuinfo: dict[str, str], isa: str, expected: str
) -> None:
    _fake_machine(monkeypatch, machine, cpuinfo, isa)
    cls = str(measure_environment("cpu", 2)["class"])
    assert cls.startswith(f"cpu/{expected}/torch-") and cls.endswith("/t2")
    assert is_canonical_env_class(cls)


def test_a_machine_without_a_canonical_class_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_machine(monkeypatch, "aarch64", {"CPU implementer": "0x99"}, "DEFAULT")
    with pytest.raises(Rejected, match=r"no canonical environment class.*implementer 0x99"):
        measure_environment("cpu", 1)
    _fake_machine(monkeypatch, "riscv64", {}, "DEFAULT")
    with pytest.raises(Rejected, match="machine 'riscv64'"):
        measure_environment("cpu", 1)
