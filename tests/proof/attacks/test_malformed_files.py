"""Checkpoint files as a cheating prover would write them: each is refused with MalformedInput
naming what is wrong, never another exception, a hang or a crash (a verifier that crashes signs
nothing and the cheat is refunded). Then tensors that parse but do not fit the job."""

from __future__ import annotations

import json
import os
import random
import struct
from pathlib import Path

import pytest
import torch

from nnet.errors import MalformedInput
from nnet.proof.checkpoint import write_checkpoint
from nnet.proof.safeload import (
    check_checkpoint,
    compute_template,
    parse_safetensors,
    read_untrusted_checkpoint,
)


def make_state(step: int = 30) -> dict[str, torch.Tensor]:
    """A checkpoint shaped like the trainer's: weights, SGD momentum, step and RNG state."""
    torch.manual_seed(step)
    net = torch.nn.Sequential(torch.nn.Linear(128, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    out = {f"model.net.{k}": v.detach().clone() for k, v in net.state_dict().items()}
    for i, p in enumerate(net.parameters()):
        out[f"optim.{i}.momentum_buffer"] = torch.randn_like(p)
    out["meta.step"] = torch.tensor([step], dtype=torch.int64)
    out["meta.rng"] = torch.get_rng_state().clone()
    return out


def craft(path: Path, header: object, data: bytes = b"", *, length: int | None = None) -> Path:
    """A safetensors-looking file: an 8-byte little-endian header length, the header, the data."""
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(body) if length is None else length
    path.write_bytes(struct.pack("<Q", n) + body + data)
    return path


def refused(path: Path, match: str, **kw: object) -> str:
    with pytest.raises(MalformedInput, match=match) as info:
        read_untrusted_checkpoint(path, **kw)  # type: ignore[arg-type]
    assert "\n" not in info.value.message
    return info.value.message


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "run" / "000003.safetensors"
    path.parent.mkdir()
    write_checkpoint(path, make_state(), {"index": "3"})
    return path


def test_an_honest_checkpoint_reads_back_and_fits(ckpt: Path) -> None:
    want = make_state()
    got = read_untrusted_checkpoint(ckpt, root=ckpt.parent)
    assert set(got) == set(want)
    assert all(torch.equal(got[k], want[k]) for k in want)
    check_checkpoint(got, compute_template(want), step=30, label="checkpoint 3")
    got["model.net.0.weight"].add_(1.0)  # memory of its own: writable, not mapped from the file


# --- not a regular file, or not where it should be -------------------------------------------


def test_symlink_to_a_valid_checkpoint_outside_the_root(ckpt: Path, tmp_path: Path) -> None:
    root = tmp_path / "other-run"
    root.mkdir()
    link = root / "000003.safetensors"
    link.symlink_to(ckpt)
    assert "000003.safetensors is a symlink" in refused(link, "is a symlink", root=root)
    refused(link, "is a symlink")  # refused with or without a root


def test_symlink_to_dev_zero(tmp_path: Path) -> None:
    link = tmp_path / "000001.safetensors"
    link.symlink_to("/dev/zero")
    refused(link, "is a symlink")


@pytest.mark.timeout(10)
def test_dev_zero_itself() -> None:
    refused(Path("/dev/zero"), "is a character device")


@pytest.mark.timeout(10)
def test_fifo_is_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "000001.safetensors"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    refused(fifo, "is a FIFO")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "000001.safetensors").mkdir()
    refused(tmp_path / "000001.safetensors", "is a directory")


def test_regular_file_reached_through_a_symlinked_folder_lies_outside(
    ckpt: Path, tmp_path: Path
) -> None:
    root = tmp_path / "run2"
    root.mkdir()
    (root / "checkpoints").symlink_to(ckpt.parent, target_is_directory=True)
    refused(root / "checkpoints" / ckpt.name, "lies outside", root=root)
    refused(root / ".." / "run" / ckpt.name, "lies outside", root=root)


def test_file_over_the_size_limit(ckpt: Path) -> None:
    refused(ckpt, "over the limit", max_bytes=ckpt.stat().st_size - 1)


@pytest.mark.timeout(10)
def test_sparse_file_over_the_default_limit_is_refused_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "000001.safetensors"
    with open(path, "wb") as f:
        f.truncate((64 << 30) + 1)  # 64 GiB + 1 of holes: costs no disk, only a stat
    refused(path, "over the limit")


# --- bytes that are not safetensors --------------------------------------------------------------


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.safetensors").write_bytes(b"")
    refused(tmp_path / "empty.safetensors", "too short")


def test_garbage_bytes(tmp_path: Path) -> None:
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(random.Random(0).randbytes(1 << 16))
    refused(path, "safetensors header")


def test_pickle_renamed_safetensors_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(marker),))

    path = tmp_path / "000001.safetensors"
    torch.save({"model.w": torch.ones(3), "x": Payload()}, path)
    refused(path, "safetensors header")
    legacy = tmp_path / "000002.safetensors"
    torch.save({"x": Payload()}, legacy, _use_new_zipfile_serialization=False)
    refused(legacy, "safetensors header")
    assert not marker.exists()


def test_header_length_two_to_the_63(tmp_path: Path) -> None:
    path = craft(tmp_path / "a.safetensors", {}, length=1 << 63)
    refused(path, f"header of {1 << 63} bytes")


def test_header_length_beyond_end_of_file(tmp_path: Path) -> None:
    path = craft(tmp_path / "a.safetensors", {}, length=4096)
    refused(path, "only 2 follow")


def test_header_not_json(tmp_path: Path) -> None:
    refused(craft(tmp_path / "a.safetensors", b"{not json at all"), "not JSON")
    refused(craft(tmp_path / "b.safetensors", b"\xff\xfe{}"), "not JSON")  # not UTF-8


def test_header_nested_deeper_than_the_json_parser_goes(tmp_path: Path) -> None:
    refused(craft(tmp_path / "a.safetensors", b"[" * 200_000 + b"]" * 200_000), "not JSON")


def test_header_json_list(tmp_path: Path) -> None:
    refused(craft(tmp_path / "a.safetensors", [1, 2, 3]), "JSON list, not an object")


def test_header_names_a_tensor_twice(tmp_path: Path) -> None:
    entry = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    header = f'{{"w": {entry}, "w": {entry}}}'.encode()
    refused(craft(tmp_path / "a.safetensors", header, bytes(4)), "names w twice")


def t(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, object]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def test_overlapping_offsets(tmp_path: Path) -> None:
    header = {"a": t("F32", [4], 0, 16), "b": t("F32", [4], 8, 24)}
    refused(craft(tmp_path / "a.safetensors", header, bytes(24)), "tensors a and b overlap")


def test_offsets_past_the_end(tmp_path: Path) -> None:
    header = {"a": t("F32", [1 << 20], 0, 4 << 20)}
    refused(craft(tmp_path / "a.safetensors", header, bytes(16)), "runs past the end")


def test_offsets_that_disagree_with_the_shape(tmp_path: Path) -> None:
    header = {"a": t("F32", [1 << 40, 1 << 40], 0, 16)}
    refused(craft(tmp_path / "a.safetensors", header, bytes(16)), "offsets span 16")


def test_offsets_backwards_or_not_numbers(tmp_path: Path) -> None:
    refused(craft(tmp_path / "a.safetensors", {"a": t("F32", [0], 8, 4)}, bytes(8)), "end before")
    bad = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}}
    refused(craft(tmp_path / "b.safetensors", bad, bytes(4)), "not \\[begin, end\\]")
    neg = {"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}
    refused(craft(tmp_path / "c.safetensors", neg, bytes(4)), "not a list of counts")


def test_stray_bytes_between_or_after_tensors(tmp_path: Path) -> None:
    gap = {"a": t("F32", [1], 0, 4), "b": t("F32", [1], 8, 12)}
    refused(craft(tmp_path / "a.safetensors", gap, bytes(12)), "4 stray bytes before tensor b")
    tail = {"a": t("F32", [1], 0, 4)}
    refused(craft(tmp_path / "b.safetensors", tail, bytes(1004)), "1000 stray bytes after")


@pytest.mark.parametrize("dtype", ["C64", "F8_E4M3", "U16", "object", 7])
def test_unsupported_dtype(tmp_path: Path, dtype: object) -> None:
    header = {"a": {"dtype": dtype, "shape": [1], "data_offsets": [0, 8]}}
    refused(craft(tmp_path / "a.safetensors", header, bytes(8)), f"has dtype {dtype}; allowed")


def test_metadata_not_strings(tmp_path: Path) -> None:
    header = {"__metadata__": {"format": ["nnet"]}, "a": t("F32", [1], 0, 4)}
    refused(craft(tmp_path / "a.safetensors", header, bytes(4)), "__metadata__")


def test_a_header_only_the_parser_refuses(tmp_path: Path) -> None:
    # a count past 2^64: fine for Python's json, an error inside the safetensors library
    header = {"a": t("F32", [(1 << 64) + 1, 0], 0, 0)}
    refused(craft(tmp_path / "a.safetensors", header), "does not parse as safetensors")


def test_whatever_the_parser_raises_becomes_malformed_input(ckpt: Path) -> None:
    class PanicException(BaseException):  # what a Rust panic in the parser surfaces as
        pass

    def panics(_path: str, **_kw: object) -> None:
        raise PanicException("index out of bounds:\nthe len is 3")

    with open(ckpt, "rb") as f, pytest.raises(MalformedInput, match="does not parse") as info:
        parse_safetensors(f, ckpt, "checkpoint 3", panics)
    assert "\n" not in info.value.message


# --- tensors that parse but do not fit the job ---------------------------------------------------

TEMPLATE = compute_template(make_state())


def unfit(tensors: dict[str, torch.Tensor], match: str, step: int = 30) -> None:
    with pytest.raises(MalformedInput, match=match) as info:
        check_checkpoint(tensors, TEMPLATE, step=step, label="checkpoint 3")
    assert info.value.message.startswith("checkpoint 3: ")


def test_missing_tensor() -> None:
    st = make_state()
    del st["optim.1.momentum_buffer"]
    unfit(st, "missing tensors optim.1.momentum_buffer")


def test_extra_tensor() -> None:
    unfit({**make_state(), "model.backdoor": torch.zeros(3)}, "unexpected tensors model.backdoor")


def test_wrong_shape() -> None:
    st = make_state()
    st["model.net.2.weight"] = torch.zeros(4, 32)
    unfit(st, r"model.net.2.weight has shape \[4, 32\], not \[3, 32\]")


def test_wrong_dtype() -> None:
    st = make_state()
    st["model.net.0.weight"] = st["model.net.0.weight"].double()
    unfit(st, "model.net.0.weight is float64, not float32")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values(value: float) -> None:
    st = make_state()
    st["optim.2.momentum_buffer"][-1, -1] = value
    unfit(st, "non-finite values in optim.2.momentum_buffer")


@pytest.mark.timeout(60)
def test_one_nan_at_the_end_of_a_large_tensor() -> None:
    big = torch.zeros(3 << 24)  # 50M floats (200 MB): several isfinite chunks
    big[-1] = float("nan")
    template = {"meta.step": (torch.int64, (1,)), "w": (torch.float32, (3 << 24,))}
    tensors = {"meta.step": torch.tensor([5]), "w": big}
    with pytest.raises(MalformedInput, match="non-finite values in w"):
        check_checkpoint(tensors, template, step=5, label="checkpoint 1")
    big[-1] = 0.0
    check_checkpoint(tensors, template, step=5, label="checkpoint 1")


def test_bfloat16_inf() -> None:
    template = {"meta.step": (torch.int64, (1,)), "w": (torch.bfloat16, (8,))}
    w = torch.ones(8, dtype=torch.bfloat16)
    w[3] = float("inf")
    with pytest.raises(MalformedInput, match="non-finite values in w"):
        check_checkpoint({"meta.step": torch.tensor([0]), "w": w}, template, step=0, label="c")


@pytest.mark.parametrize(
    ("meta_step", "match"),
    [
        (None, "meta.step is missing"),
        (torch.tensor([], dtype=torch.int64), "meta.step is empty"),
        (torch.tensor([30.0]), "meta.step is float32, not int64"),
        (torch.tensor([30, 30]), "meta.step holds 2 values"),
        (torch.tensor([40]), "meta.step is 40, expected 30"),
    ],
)
def test_bad_meta_step(meta_step: torch.Tensor | None, match: str) -> None:
    st = make_state()
    if meta_step is None:
        del st["meta.step"]
    else:
        st["meta.step"] = meta_step
    unfit(st, match)


def test_checkpoint_of_another_step() -> None:
    unfit(make_state(step=30), "meta.step is 30, expected 40", step=40)


def test_a_written_checkpoint_of_the_wrong_model_is_refused_after_reading(tmp_path: Path) -> None:
    st = make_state()
    st["model.net.0.weight"] = torch.zeros(64, 128)
    path = tmp_path / "000003.safetensors"
    write_checkpoint(path, st, {})
    unfit(read_untrusted_checkpoint(path), "model.net.0.weight has shape")
