"""The environment class: one canonical name for the machines that replay each other bit for bit.

A proof records its prover's class (`proof.env`) and a node registers its own (`node.register`'s
`env`); exact-mode verifiers are drawn among the nodes of the prover's class (POL.md). A class is
never free text: `measure_environment` derives it from what this machine is, and the chain accepts
only strings `parse_env_class` accepts. One grammar, one spelling per class, ASCII only, at most
120 characters, fields joined by `/`:

    cpu/OS/MACHINE/VENDOR/ISA/torch-VERSION/tTHREADS
        cpu/linux/x86_64/GenuineIntel/AVX512/torch-2.13.0+cpu/t1
    cuda/smXY/cuda-X.Y/cudnn-N/torch-VERSION
        cuda/sm90/cuda-13.0/cudnn-91900/torch-2.11.0+cu130

CPU results depend on the operating system (its compiler and libm), the CPU family and the vector
ISA that ATen dispatches to (named as torch's CPUCapability: DEFAULT, AVX2, ...) and the thread
count. GPU results depend on the architecture (compute capability: an H100 and an H200 are both
sm90 and agree bit for bit) and the CUDA, cuDNN and torch builds, not on the host CPU: the host
only gathers and pads batches, which is exact.

Torch-free at import: the chain imports this module; only `measure_environment` loads torch.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, NamedTuple

from nnet.errors import MalformedInput, Rejected, UsageError

__all__ = [
    "CPU_FAMILIES",
    "DEVICES",
    "MAX_CLASS_LENGTH",
    "MAX_THREADS",
    "OPERATING_SYSTEMS",
    "CpuFamily",
    "EnvClass",
    "format_env_class",
    "is_canonical_env_class",
    "measure_environment",
    "parse_env_class",
]


class CpuFamily(NamedTuple):
    """What a CPU architecture (platform.machine(), normalised) can be combined with."""

    systems: tuple[str, ...]
    vendors: tuple[str, ...]
    isas: tuple[str, ...]  # torch's CPUCapability names for this architecture


MAX_CLASS_LENGTH = 120
MAX_THREADS = 1024  # as job.threads (spec.py)
DEVICES = ("cpu", "cuda")
OPERATING_SYSTEMS = ("linux", "darwin", "windows")
CPU_FAMILIES: dict[str, CpuFamily] = {
    "x86_64": CpuFamily(
        OPERATING_SYSTEMS,
        ("GenuineIntel", "AuthenticAMD", "HygonGenuine"),
        ("DEFAULT", "AVX2", "AVX512"),
    ),
    "aarch64": CpuFamily(
        OPERATING_SYSTEMS,
        ("ARM", "Apple", "Ampere", "Fujitsu", "HiSilicon", "NVIDIA", "Qualcomm"),
        ("DEFAULT", "SVE128", "SVE256"),
    ),
    "ppc64le": CpuFamily(("linux",), ("IBM",), ("DEFAULT", "VSX")),
    "s390x": CpuFamily(("linux",), ("IBM",), ("DEFAULT", "ZVECTOR")),
}
_CPU_FIELDS = ("device", "os", "machine", "vendor", "isa", "torch", "threads")
_CUDA_FIELDS = ("device", "sm", "cuda", "cudnn", "torch")

_NUM = r"(?:0|[1-9][0-9]{0,7})"  # no leading zeros: one spelling per number
# a PEP 440 release with optional pre/post/dev parts and a lower-case local label (+cpu, +cu130,
# +git1a2b3c, NGC's +ecf3bae40a.nv25.01)
_TORCH_RE = re.compile(
    rf"{_NUM}\.{_NUM}\.{_NUM}(?:(?:a|b|rc){_NUM})?(?:\.post{_NUM})?(?:\.dev{_NUM})?"
    r"(?:\+[a-z0-9]{1,32}(?:\.[a-z0-9]{1,32}){0,7})?",
    re.ASCII,
)
_SM_RE = re.compile(r"([1-9][0-9]?)\.([0-9])", re.ASCII)  # compute capability, e.g. 9.0
_CUDA_RE = re.compile(r"[1-9][0-9]?\.(?:0|[1-9][0-9]?)", re.ASCII)  # e.g. 13.0
_CHARS_RE = re.compile(r"[A-Za-z0-9._+/-]+", re.ASCII)
# the fields that carry a prefix in the class string: their pattern, and how to say it
_FIELD_RES = {
    "torch": (re.compile(r"torch-(.+)", re.ASCII), "torch-VERSION"),
    "threads": (re.compile(r"t([1-9][0-9]{0,3})", re.ASCII), f"t1 to t{MAX_THREADS}"),
    "sm": (re.compile(r"sm([1-9][0-9]?)([0-9])", re.ASCII), "smXY, like sm90"),
    "cuda": (re.compile(r"cuda-(.+)", re.ASCII), "cuda-X.Y"),
    "cudnn": (re.compile(r"cudnn-([1-9][0-9]{3,6})", re.ASCII), "cudnn-N, like cudnn-91900"),
}
_MIN_CUDNN, _MAX_CUDNN = 1000, 9_999_999  # cudnn.version(): 8902 is 8.9.2, 91900 is 9.19.0


@dataclass(frozen=True)
class EnvClass:
    """An environment class, checked on construction: only canonical classes can exist.

    cpu classes set os, machine, vendor, isa and threads; cuda classes set sm (the compute
    capability, "9.0"), cuda ("13.0") and cudnn (91900); both set torch ("2.13.0+cpu").
    """

    device: str
    torch: str
    os: str | None = None
    machine: str | None = None
    vendor: str | None = None
    isa: str | None = None
    threads: int | None = None
    sm: str | None = None
    cuda: str | None = None
    cudnn: int | None = None

    def __post_init__(self) -> None:
        _check(self)
        if len(format_env_class(self)) > MAX_CLASS_LENGTH:
            raise MalformedInput(f"environment class is longer than {MAX_CLASS_LENGTH} characters")

    def __str__(self) -> str:
        return format_env_class(self)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bad(what: str, value: object, should: str) -> MalformedInput:
    return MalformedInput(f"environment class: {what} {_show(value)} {should}")


def _one_of(what: str, value: object, allowed: tuple[str, ...], where: str = "") -> None:
    if type(value) is not str or value not in allowed:
        raise _bad(what, value, f"is not one of {', '.join(allowed)}{where}")


def _check(c: EnvClass) -> None:
    _one_of("device", c.device, DEVICES)
    if type(c.torch) is not str or not _TORCH_RE.fullmatch(c.torch):
        raise _bad("torch version", c.torch, "is not a version like 2.13.0+cpu")
    unset = (
        ("os", "machine", "vendor", "isa", "threads")
        if c.device == "cuda"
        else ("sm", "cuda", "cudnn")
    )
    for name in unset:
        if getattr(c, name) is not None:
            raise _bad(name, getattr(c, name), f"is not part of a {c.device} class")
    if c.device == "cpu":
        _one_of("machine", c.machine, tuple(CPU_FAMILIES))
        family = CPU_FAMILIES[str(c.machine)]
        _one_of("os", c.os, family.systems, f" (on {c.machine})")
        _one_of("CPU vendor", c.vendor, family.vendors, f" (on {c.machine})")
        _one_of("ISA", c.isa, family.isas, f" (on {c.machine})")
        if type(c.threads) is not int or not 1 <= c.threads <= MAX_THREADS:
            raise _bad("threads", c.threads, f"is not a whole number from 1 to {MAX_THREADS}")
    else:
        if type(c.sm) is not str or not _SM_RE.fullmatch(c.sm):
            raise _bad("compute capability", c.sm, "is not like 9.0")
        if type(c.cuda) is not str or not _CUDA_RE.fullmatch(c.cuda):
            raise _bad("CUDA version", c.cuda, "is not like 13.0")
        if type(c.cudnn) is not int or not _MIN_CUDNN <= c.cudnn <= _MAX_CUDNN:
            raise _bad("cuDNN version", c.cudnn, "is not a number like 91900")


def format_env_class(c: EnvClass) -> str:
    """The class's one canonical spelling."""
    if c.device == "cpu":
        return f"cpu/{c.os}/{c.machine}/{c.vendor}/{c.isa}/torch-{c.torch}/t{c.threads}"
    return f"cuda/sm{str(c.sm).replace('.', '')}/cuda-{c.cuda}/cudnn-{c.cudnn}/torch-{c.torch}"


def parse_env_class(text: object) -> EnvClass:
    """The class a canonical string names; MalformedInput naming the bad part otherwise."""
    if type(text) is not str:
        raise MalformedInput("environment class must be a string")
    if not text:
        raise MalformedInput("environment class is empty")
    if len(text) > MAX_CLASS_LENGTH:
        raise MalformedInput(
            f"environment class is {len(text)} characters, more than {MAX_CLASS_LENGTH}"
        )
    if not _CHARS_RE.fullmatch(text):
        at = next(i for i, ch in enumerate(text) if not _CHARS_RE.fullmatch(ch))
        raise _bad(f"character {at + 1}", text[at], "is not one of A-Z a-z 0-9 . _ + - /")
    parts = text.split("/")
    _one_of("device", parts[0], DEVICES)
    names = _CPU_FIELDS if parts[0] == "cpu" else _CUDA_FIELDS
    if len(parts) != len(names):
        raise MalformedInput(
            f"environment class: a {parts[0]} class has {len(names)} fields "
            f"({'/'.join(names)}), not {len(parts)}"
        )
    fields: dict[str, Any] = {}
    for name, part in zip(names, parts, strict=True):
        if not part:
            raise MalformedInput(f"environment class: field {name} is empty")
        if name not in _FIELD_RES:
            fields[name] = part
            continue
        pattern, spelled = _FIELD_RES[name]
        m = pattern.fullmatch(part)
        if m is None:
            raise _bad(name, part, f"is not {spelled}")
        if name == "sm":
            fields[name] = f"{m.group(1)}.{m.group(2)}"
        elif name in ("threads", "cudnn"):
            fields[name] = int(m.group(1))  # ASCII digits only, by the pattern
        else:
            fields[name] = m.group(1)
    env_class = EnvClass(**fields)
    if (
        format_env_class(env_class) != text
    ):  # unreachable by construction; the round trip is the rule
        raise MalformedInput(f"environment class {_show(text)} is not in canonical form")
    return env_class


def is_canonical_env_class(text: object) -> bool:
    """Whether `text` is the canonical spelling of an environment class."""
    try:
        parse_env_class(text)
    except MalformedInput:
        return False
    return True


# ---- measuring this machine (torch loads only here) -------------------------------------------
_ISA_NAMES = {"NO AVX": "DEFAULT", "Z VECTOR": "ZVECTOR"}  # torch's strings -> CPUCapability names
_MACHINE_NAMES = {"AMD64": "x86_64", "amd64": "x86_64", "arm64": "aarch64", "ARM64": "aarch64"}
_OS_NAMES = {"linux": "linux", "darwin": "darwin", "win32": "windows"}
_ARM_IMPLEMENTERS = {
    0x41: "ARM",  # Neoverse and Cortex cores: Graviton, Grace, Cobalt, ...
    0x46: "Fujitsu",
    0x48: "HiSilicon",
    0x4E: "NVIDIA",
    0x51: "Qualcomm",
    0x61: "Apple",
    0xC0: "Ampere",
}


def _cpuinfo() -> dict[str, str]:
    """The first value of each key of /proc/cpuinfo (empty where there is none)."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep:
                    info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def _cpu_vendor(os_name: str, machine: str) -> str:
    if os_name == "linux":
        info = _cpuinfo()
        if "vendor_id" in info:  # x86 (GenuineIntel, ...) and s390x (IBM/S390)
            return "IBM" if info["vendor_id"].startswith("IBM") else info["vendor_id"]
        if "CPU implementer" in info:  # aarch64: the implementer's code
            try:
                code = int(info["CPU implementer"], 16)
            except ValueError:
                return info["CPU implementer"]
            return _ARM_IMPLEMENTERS.get(code, f"implementer {code:#x}")
        if machine == "ppc64le":
            return "IBM"
    elif os_name == "darwin":
        if machine == "aarch64":
            return "Apple"
        out = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.vendor"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip()
    elif os_name == "windows":  # "Intel64 Family 6 Model 85 Stepping 7, GenuineIntel"
        return platform.processor().rpartition(",")[2].strip()
    return platform.processor() or "unknown"


def measure_environment(device: str, threads: int) -> dict[str, Any]:
    """What this machine is for replay: the fields a run records and "class", its canonical name.

    `device` is cpu or cuda; `threads` the CPU intra-op threads of the job (part of a cpu class).
    Rejected where this machine has no canonical class (an unknown CPU vendor, a ROCm build).
    """
    if device not in DEVICES:
        raise UsageError(f"device {_show(device)} is not one of {', '.join(DEVICES)}")
    if type(threads) is not int or not 1 <= threads <= MAX_THREADS:
        raise UsageError(f"threads {_show(threads)} is not a whole number from 1 to {MAX_THREADS}")
    import torch

    version = str(torch.__version__)
    env: dict[str, Any] = {"device": device, "torch": version, "deterministic": True}
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("no CUDA device is available on this machine")
        if torch.version.cuda is None:
            raise Rejected("this torch is not a CUDA build (ROCm?); only CUDA GPUs have classes")
        major, minor = torch.cuda.get_device_capability()
        cudnn = torch.backends.cudnn.version()  # type: ignore[no-untyped-call]
        env |= {
            "gpu": torch.cuda.get_device_name(),
            "sm": f"{major}.{minor}",
            "cuda": str(torch.version.cuda),
            "cudnn": str(cudnn),
        }
        fields: dict[str, Any] = {"sm": env["sm"], "cuda": env["cuda"], "cudnn": cudnn}
    else:
        os_name = _OS_NAMES.get(sys.platform, sys.platform)
        machine = _MACHINE_NAMES.get(platform.machine(), platform.machine())
        isa = torch.backends.cpu.get_cpu_capability()
        fields = {
            "os": os_name,
            "machine": machine,
            "vendor": _cpu_vendor(os_name, machine),
            "isa": _ISA_NAMES.get(isa, isa),
            "threads": threads,
        }
        env |= fields
    try:
        env["class"] = format_env_class(EnvClass(device, version, **fields))
    except MalformedInput as e:
        raise Rejected(f"this machine has no canonical environment class: {e.message}") from None
    return env
