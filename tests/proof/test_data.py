"""Dataset files as a hostile job spec could name them: each is refused with MalformedInput (or
NotFound) quickly, never hashed forever, inflated without bound or unpickled; good data loads."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
import torch

from nnet.errors import MalformedInput, NotFound
from nnet.proof import data as data_mod
from nnet.proof.data import compute_data_cids, load_dataset
from nnet.proof.spec import JobSpec, load_spec

from .conftest import TINY, make_tiny_data


def spec_for(tmp_path: Path, **data: Any) -> JobSpec:
    doc: dict[str, Any] = {k: dict(v) for k, v in TINY.items()}
    doc["data"] = {"holdout": 100, **data}
    if "model" in data:
        doc["model"] = doc["data"].pop("model")
    path = tmp_path / "job.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return load_spec(path)


def refused(spec: JobSpec, match: str, *, error: type[Exception] = MalformedInput) -> None:
    """Refused both where a CID is computed and where the bytes are read."""
    with pytest.raises(error, match=match) as info:
        compute_data_cids(spec)
    assert "\n" not in str(info.value)
    with pytest.raises(error, match=match):
        load_dataset(spec, check_cids=False)


def read_refused(spec: JobSpec, match: str) -> None:
    """A regular file whose content is bad: it hashes, but does not load."""
    compute_data_cids(spec)
    with pytest.raises(MalformedInput, match=match) as info:
        load_dataset(spec)
    assert "\n" not in info.value.message


def idx_bytes(arr: np.ndarray, dims: tuple[int, ...] | None = None) -> bytes:
    dims = arr.shape if dims is None else dims
    head = bytes([0, 0, 0x08, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return head + arr.astype(np.uint8).tobytes()


def write_idx_pair(tmp_path: Path, n: int = 600, gz: bool = False) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (n, 8, 8)), rng.integers(0, 10, n)
    names = ("images.idx.gz", "labels.idx.gz") if gz else ("images.idx", "labels.idx")
    for name, arr in zip(names, (x, y), strict=True):
        raw = idx_bytes(arr)
        (tmp_path / name).write_bytes(gzip.compress(raw) if gz else raw)
    return names


# --- good data still loads -----------------------------------------------------------------------


def test_safetensors_data_loads(tmp_path: Path) -> None:
    make_tiny_data(tmp_path / "tiny.safetensors")
    d = load_dataset(spec_for(tmp_path, path="tiny.safetensors"))
    assert d.x.shape == (600, 2, 8, 8) and d.x.dtype == torch.float32
    assert d.y.dtype == torch.int64 and d.classes == 3 and d.n_train == 500


@pytest.mark.parametrize("gz", [False, True])
def test_idx_data_loads(tmp_path: Path, gz: bool) -> None:
    images, labels = write_idx_pair(tmp_path, gz=gz)
    d = load_dataset(spec_for(tmp_path, path=images, labels=labels, scale=255.0))
    assert d.x.shape == (600, 8, 8) and float(d.x.max()) <= 1.0
    assert d.classes == 10


def test_npz_data_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = np.asfortranarray(rng.standard_normal((600, 8, 8)).astype(">f4"))  # big-endian, F order
    np.savez(tmp_path / "d.npz", x=x, y=rng.integers(0, 5, 600).astype(np.uint8))
    d = load_dataset(spec_for(tmp_path, path="d.npz"))
    assert torch.equal(d.x, torch.from_numpy(x.astype(np.float32)))
    assert d.classes == 5


# --- not a regular file --------------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_dev_zero_as_data_path_is_refused_quickly(tmp_path: Path) -> None:
    refused(spec_for(tmp_path, path="/dev/zero", format="safetensors"), "is a character device")


@pytest.mark.timeout(10)
def test_symlink_to_dev_zero_is_refused_quickly(tmp_path: Path) -> None:
    (tmp_path / "d.safetensors").symlink_to("/dev/zero")
    refused(spec_for(tmp_path, path="d.safetensors"), "is a character device")


@pytest.mark.timeout(10)
def test_dev_zero_as_idx_labels_is_refused_quickly(tmp_path: Path) -> None:
    images, _ = write_idx_pair(tmp_path)
    refused(spec_for(tmp_path, path=images, labels="/dev/zero"), "labels file /dev/zero is a")


@pytest.mark.timeout(10)
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "d.npz")
    refused(spec_for(tmp_path, path="d.npz"), "is a FIFO")


def test_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d.npz").mkdir()
    refused(spec_for(tmp_path, path="d.npz"), "is a directory")


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    refused(spec_for(tmp_path, path="nowhere.npz"), "does not exist", error=NotFound)


def test_symlink_to_a_regular_file_is_fine(tmp_path: Path) -> None:
    make_tiny_data(tmp_path / "real.safetensors")
    (tmp_path / "d.safetensors").symlink_to(tmp_path / "real.safetensors")
    assert load_dataset(spec_for(tmp_path, path="d.safetensors")).x.shape[0] == 600


def test_file_over_the_size_cap_is_not_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tiny_data(tmp_path / "tiny.safetensors")
    monkeypatch.setattr(data_mod, "MAX_DATA_BYTES", 1 << 10)
    refused(spec_for(tmp_path, path="tiny.safetensors"), "over the limit of 1024")


# --- npz -----------------------------------------------------------------------------------------


def test_npz_with_pickled_objects_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(marker),))

    x = np.empty(600, dtype=object)
    x[:] = [Payload() for _ in range(600)]
    np.savez(tmp_path / "d.npz", x=x, y=np.zeros(600, dtype=np.int64))
    read_refused(spec_for(tmp_path, path="d.npz"), "holds pickled objects; nnet reads plain")
    assert not marker.exists()


def test_npz_that_is_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "d.npz").write_bytes(b"PK\x03\x04" + os.urandom(4096))
    read_refused(spec_for(tmp_path, path="d.npz"), "not a readable npz file")


def test_npz_holding_a_bare_npy(tmp_path: Path) -> None:
    with open(tmp_path / "d.npz", "wb") as f:
        np.save(f, np.zeros((600, 4), dtype=np.float32))
    read_refused(spec_for(tmp_path, path="d.npz"), "not a readable npz file")


def test_npz_whose_header_claims_a_terabyte(tmp_path: Path) -> None:
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<f8", "fortran_order": False, "shape": (1 << 37,)}
    )
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as z:
        z.writestr("x.npy", head.getvalue() + bytes(64))
        z.writestr("y.npy", head.getvalue() + bytes(64))
    read_refused(spec_for(tmp_path, path="d.npz"), "claims shape")


def test_npz_with_a_corrupt_member(tmp_path: Path) -> None:
    np.savez_compressed(tmp_path / "d.npz", x=np.zeros((600, 64)), y=np.zeros(600, dtype=int))
    raw = bytearray((tmp_path / "d.npz").read_bytes())
    raw[200:260] = os.urandom(60)  # inside x's deflate stream
    (tmp_path / "d.npz").write_bytes(bytes(raw))
    read_refused(spec_for(tmp_path, path="d.npz"), "npz")


def test_npz_without_y(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((600, 4)))
    read_refused(spec_for(tmp_path, path="d.npz"), "arrays named x and y")


def test_string_inputs_and_float_labels(tmp_path: Path) -> None:
    np.savez(tmp_path / "s.npz", x=np.array(["abc"] * 600), y=np.zeros(600, dtype=int))
    read_refused(spec_for(tmp_path, path="s.npz"), "inputs must be a numeric array")
    np.savez(tmp_path / "f.npz", x=np.zeros((600, 4)), y=np.zeros(600))
    read_refused(spec_for(tmp_path, path="f.npz"), "labels must be an integer array")


# --- safetensors ---------------------------------------------------------------------------------


def test_garbage_safetensors_data(tmp_path: Path) -> None:
    (tmp_path / "d.safetensors").write_bytes(os.urandom(1 << 16))
    read_refused(spec_for(tmp_path, path="d.safetensors"), "safetensors")


def test_safetensors_data_with_a_lying_header(tmp_path: Path) -> None:
    header = json.dumps(
        {
            "x": {"dtype": "F32", "shape": [600, 4], "data_offsets": [0, 9600]},
            "y": {"dtype": "I64", "shape": [600], "data_offsets": [4800, 9600]},
        }
    ).encode()
    path = tmp_path / "d.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(9600))
    read_refused(spec_for(tmp_path, path="d.safetensors"), "overlap")


def test_safetensors_data_without_y(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(600, 4)}, str(tmp_path / "d.safetensors"))
    read_refused(spec_for(tmp_path, path="d.safetensors"), "tensors named x and y")


def test_bfloat16_safetensors_data(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    x, y = torch.zeros(600, 4, dtype=torch.bfloat16), torch.zeros(600, dtype=torch.int64)
    save_file({"x": x, "y": y}, str(tmp_path / "d.safetensors"))
    read_refused(spec_for(tmp_path, path="d.safetensors"), "has dtype BF16")


# --- IDX -----------------------------------------------------------------------------------------


def test_truncated_idx(tmp_path: Path) -> None:
    images, labels = write_idx_pair(tmp_path)
    raw = (tmp_path / images).read_bytes()
    (tmp_path / images).write_bytes(raw[: len(raw) // 2])
    read_refused(spec_for(tmp_path, path=images, labels=labels), "IDX header says")
    (tmp_path / images).write_bytes(raw[:10])  # inside the header
    read_refused(spec_for(tmp_path, path=images, labels=labels), "ends inside its IDX header")


def test_truncated_idx_gz(tmp_path: Path) -> None:
    images, labels = write_idx_pair(tmp_path, gz=True)
    raw = (tmp_path / images).read_bytes()
    (tmp_path / images).write_bytes(raw[: len(raw) // 2])
    read_refused(spec_for(tmp_path, path=images, labels=labels), "IDX")


def test_garbage_idx(tmp_path: Path) -> None:
    images, labels = write_idx_pair(tmp_path)
    (tmp_path / images).write_bytes(b"\0\0\x08\0" + bytes(100))  # zero dimensions
    read_refused(spec_for(tmp_path, path=images, labels=labels), "not an IDX file")
    (tmp_path / images).write_bytes(b"\x1f\x8b" + os.urandom(1000))  # gzip magic, then noise
    read_refused(spec_for(tmp_path, path=images, labels=labels), "not a readable IDX file")


@pytest.mark.timeout(10)
def test_idx_header_over_the_cap_is_refused_before_inflating(tmp_path: Path) -> None:
    images, labels = write_idx_pair(tmp_path, gz=True)
    dims = (1 << 20, 1 << 10, 1 << 10)  # a terabyte of pixels, claimed by a tiny file
    (tmp_path / images).write_bytes(gzip.compress(idx_bytes(np.zeros(0), dims)))
    read_refused(spec_for(tmp_path, path=images, labels=labels), "the limit is")


@pytest.mark.timeout(30)
def test_gzip_bomb_behind_a_small_idx_header(tmp_path: Path) -> None:
    images, labels = write_idx_pair(tmp_path, gz=True)
    good = idx_bytes(np.random.default_rng(0).integers(0, 256, (600, 8, 8)))
    with gzip.open(tmp_path / images, "wb", compresslevel=1) as f:
        f.write(good)
        zeros = bytes(1 << 20)
        for _ in range(512):  # 512 MiB of zeros, about 2 MB compressed
            f.write(zeros)
    assert (tmp_path / images).stat().st_size < 8 << 20
    read_refused(spec_for(tmp_path, path=images, labels=labels), "body is longer")


# --- token data ----------------------------------------------------------------------------------


def test_tokens_outside_the_vocabulary(tmp_path: Path) -> None:
    seqs = np.random.default_rng(5).integers(0, 11, size=(200, 13))
    seqs[7, 3] = 11
    np.savez(tmp_path / "tokens.npz", x=seqs[:, :-1], y=seqs[:, 1:])
    model = {"name": "transformer", "d_model": 16, "heads": 2, "layers": 1, "vocab": 11}
    spec = spec_for(tmp_path, path="tokens.npz", holdout=40, model=model)
    read_refused(spec, r"tokens must lie in \[0, 11\)")
