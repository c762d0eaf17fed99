"""Datasets named by a job spec: safetensors (`x`, `y`), IDX / IDX.gz (as MNIST ships), NPZ.

`load_dataset(spec)` checks each file's CID against the spec before using a byte of it, then
holds the whole set in memory as tensors: inputs float32 divided by `data.scale` (or int64 tokens
for a transformer) and int64 labels. The last `data.holdout` examples are never trained on; the
proof reports accuracy on them. Batch order and augmentation are pure functions of (seed, step).

A verifier reads the files a job spec names, so they are read as hostile: only regular files of
at most MAX_DATA_BYTES (no /dev/zero, FIFOs or directories, checked before hashing), a
decompressed size known from the header and capped before a byte is inflated, no pickled
objects, and every parse failure a MalformedInput (a verifier that crashes signs nothing).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zipfile
import zlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np
import torch

from nnet.cid import compute_file_cid
from nnet.errors import MalformedInput, VerificationFailed
from nnet.proof.safeload import inspect_safetensors, open_regular_file, parse_safetensors
from nnet.proof.spec import JobSpec

MAX_CLASSES = 1 << 16  # classification labels (token data is bounded by model.vocab)

__all__ = [
    "MAX_DATA_BYTES",
    "BatchSource",
    "Dataset",
    "compute_data_cids",
    "derive_seed",
    "load_dataset",
]

# per file, on disk and inflated: a hostile spec must not make a verifier hash or inflate forever
MAX_DATA_BYTES = 32 << 30

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# safetensors dtype codes a dataset may use (numpy has no bfloat16)
_DATA_DTYPES = ("F64", "F32", "F16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL")
# errors the zip, gzip and npy readers raise on corrupt input
_CORRUPT = (
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
)


def derive_seed(seed: int, *tags: object) -> int:
    """A 63-bit seed for one purpose (init, epoch order, a step's augmentation)."""
    text = ":".join(["nnet", str(seed), *map(str, tags)]).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class Dataset:
    """Inputs and labels in memory; examples [0, n_train) train, [n_train, n) are held out."""

    x: torch.Tensor
    y: torch.Tensor
    n_train: int
    classes: int

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])


def compute_data_cids(spec: JobSpec) -> tuple[str, str | None]:
    """CIDs of the data file and (IDX only) the labels file, as found on disk."""
    data = spec.data
    cid = compute_file_cid(_check_data_file(spec.resolve(data["path"]), "data file"))
    labels_cid = (
        compute_file_cid(_check_data_file(spec.resolve(data["labels"]), "labels file"))
        if data["labels"]
        else None
    )
    return cid, labels_cid


def _check_data_file(path: Path, what: str) -> Path:
    """`path`, if it is (or links to) a regular file of at most MAX_DATA_BYTES."""
    with _open_data(path, f"{what} {path}"):
        return path


def _open_data(path: Path, label: str) -> AbstractContextManager[tuple[BinaryIO, int]]:
    # a data path may be a symlink (to a shared dataset), but only to a regular file
    return open_regular_file(path, label=label, max_bytes=MAX_DATA_BYTES, follow_symlinks=True)


def _check_cids(spec: JobSpec) -> None:
    cid, labels_cid = compute_data_cids(spec)
    for key, found in (("cid", cid), ("labels_cid", labels_cid)):
        want = spec.data.get(key)
        if want is not None and found != want:
            raise VerificationFailed(
                f"dataset: data.{key} is {want} but the file has CID {found}",
                hint="this is not the committed dataset",
            )


def _read_idx(path: Path, what: str) -> np.ndarray:
    label = f"{what} {path}"
    with _open_data(path, label) as (f, size):
        gz = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        try:
            if gz:
                with gzip.GzipFile(fileobj=f, mode="rb") as z:
                    return _read_idx_stream(z, None, label)
            return _read_idx_stream(f, size, label)
        except _CORRUPT as e:
            raise MalformedInput(f"{label} is not a readable IDX file: {_one_line(e)}") from None


def _read_idx_stream(f: IO[bytes] | gzip.GzipFile, size: int | None, label: str) -> np.ndarray:
    """An IDX array from a stream; `size` is the stream's length when known (not gzip). The body
    length comes from the header and is capped before any of it is read or inflated."""
    head = f.read(4)
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_DTYPES or head[3] == 0:
        raise MalformedInput(f"{label} is not an IDX file")
    ndim, dtype = head[3], np.dtype(_IDX_DTYPES[head[2]])
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) != 4 * ndim:
        raise MalformedInput(f"{label} ends inside its IDX header")
    dims = tuple(int.from_bytes(raw_dims[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    need = math.prod(dims) * dtype.itemsize
    if need > MAX_DATA_BYTES:
        raise MalformedInput(
            f"{label}: IDX header says {dims}, {need} bytes (the limit is {MAX_DATA_BYTES})"
        )
    if size is not None and size - 4 - 4 * ndim != need:
        raise MalformedInput(
            f"{label}: IDX header says {dims} but the body has {size - 4 - 4 * ndim} bytes"
        )
    body = f.read(need)
    if len(body) != need:
        raise MalformedInput(f"{label}: IDX header says {dims} but the body has {len(body)} bytes")
    if f.read(1):
        raise MalformedInput(f"{label}: IDX header says {dims} but the body is longer")
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    label = f"data file {path}"
    with _open_data(path, label) as (f, _):
        try:
            with zipfile.ZipFile(f) as z:
                return _read_npz_member(z, "x", label), _read_npz_member(z, "y", label)
        except _CORRUPT as e:
            raise MalformedInput(f"{label} is not a readable npz file: {_one_line(e)}") from None


def _read_npz_member(z: zipfile.ZipFile, key: str, label: str) -> np.ndarray:
    """Array `key` of an npz, its header checked (no objects, a size that matches the member and
    the cap) before the body is inflated; what np.load would do, minus its trust in the header."""
    try:
        info = z.getinfo(f"{key}.npy")
    except KeyError:
        raise MalformedInput(f"{label} must hold arrays named x and y") from None
    if info.file_size > MAX_DATA_BYTES:
        raise MalformedInput(
            f"{label}: array {key} is {info.file_size} bytes (the limit is {MAX_DATA_BYTES})"
        )
    fmt = np.lib.format
    with z.open(info) as m:
        version = fmt.read_magic(m)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(m)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(m)
        else:
            raise MalformedInput(f"{label}: array {key} has npy format {version}, not 1.0 or 2.0")
        if dtype.hasobject:
            raise MalformedInput(
                f"{label}: array {key} holds pickled objects; nnet reads plain arrays only"
            )
        need = math.prod(shape) * dtype.itemsize
        if need != info.file_size - m.tell():
            raise MalformedInput(
                f"{label}: array {key} claims shape {shape} but holds "
                f"{info.file_size - m.tell()} bytes"
            )
        body = m.read(need)
    if len(body) != need:
        raise MalformedInput(f"{label}: array {key} is truncated")
    return np.frombuffer(body, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _read_safetensors(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from safetensors.numpy import load_file

    label = f"data file {path}"
    with _open_data(path, label) as (f, size):
        layout = inspect_safetensors(f, size, label=label, dtypes=_DATA_DTYPES)
        if "x" not in layout or "y" not in layout:
            raise MalformedInput(f"{path} must hold tensors named x and y")
        arrays = parse_safetensors(f, path, label, load_file)
    return arrays["x"], arrays["y"]


def _read_pair(spec: JobSpec) -> tuple[np.ndarray, np.ndarray]:
    data, path = spec.data, spec.resolve(spec.data["path"])
    if data["format"] == "idx":
        return _read_idx(path, "data file"), _read_idx(spec.resolve(data["labels"]), "labels file")
    if data["format"] == "npz":
        return _read_npz(path)
    return _read_safetensors(path)


def _check_arrays(x: np.ndarray, y: np.ndarray) -> None:
    if x.dtype.kind not in "biuf" or x.ndim < 1:
        raise MalformedInput(f"dataset inputs must be a numeric array, not {x.dtype} {x.shape}")
    if y.dtype.kind not in "iu" or y.ndim < 1:
        raise MalformedInput(f"dataset labels must be an integer array, not {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise MalformedInput(f"dataset has {len(x)} inputs but {len(y)} labels")


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def load_dataset(spec: JobSpec, *, check_cids: bool = True) -> Dataset:
    """The spec's dataset, CID-checked, as tensors."""
    if check_cids:
        _check_cids(spec)
    x_np, y_np = _read_pair(spec)
    _check_arrays(x_np, y_np)
    lm = spec.model["name"] == "transformer"
    if lm:
        if x_np.dtype.kind not in "iu":
            raise MalformedInput(f"transformer inputs must be integer tokens, not {x_np.dtype}")
        x = torch.from_numpy(x_np.astype(np.int64))
        if x.dim() != 2 or tuple(y_np.shape) != tuple(x_np.shape):
            raise MalformedInput("transformer data must be x, y token arrays of shape [N, T]")
        classes = int(spec.model["vocab"])
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= classes):
            raise MalformedInput(f"tokens must lie in [0, {classes}) (model.vocab)")
    else:
        if y_np.ndim != 1:
            raise MalformedInput(f"labels must be a 1-D array, not of shape {list(y_np.shape)}")
        x = torch.from_numpy(x_np.astype(np.float32)) / float(spec.data["scale"])
        if spec.model["name"] in ("cnn", "resnet20") and x.dim() == 3:
            x = x.unsqueeze(1)  # IDX images are [N, H, W]; conv nets want a channel axis
        classes = int(y_np.max()) + 1 if len(y_np) else 0
        if classes > MAX_CLASSES:  # one hostile label would size the output layer
            raise MalformedInput(f"labels go up to {classes - 1}; at most {MAX_CLASSES} classes")
    y = torch.from_numpy(y_np.astype(np.int64))
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= classes):
        raise MalformedInput(f"labels must lie in [0, {classes})")
    n_train = len(x) - int(spec.data["holdout"])
    batch = int(spec.job["batch_size"])
    if n_train < batch:
        raise MalformedInput(
            f"job.batch_size {batch} is larger than the {n_train} training examples "
            f"({len(x)} minus data.holdout {spec.data['holdout']})"
        )
    return Dataset(x.contiguous(), y.contiguous(), n_train, classes)


def _augment(spec: JobSpec, x: torch.Tensor, step: int) -> torch.Tensor:
    name = spec.augment["name"]
    if name == "none" or x.dim() != 4:
        return x
    g = torch.Generator().manual_seed(derive_seed(spec.seed, "augment", step))
    b, _, h, w = x.shape
    p = int(spec.augment["pad"])
    off = torch.randint(0, 2 * p + 1, (2, b), generator=g)
    padded = torch.nn.functional.pad(x, (p, p, p, p))
    rows = (off[0][:, None] + torch.arange(h))[:, :, None]  # [B, H, 1]
    cols = (off[1][:, None] + torch.arange(w))[:, None, :]  # [B, 1, W]
    out = padded[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if name == "crop-flip":
        flip = torch.rand(b, generator=g) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(3), out)
    return out.contiguous()


class BatchSource:
    """The batch of each step: a fresh seeded permutation per epoch (the last partial batch is
    dropped) and that step's augmentation. The epoch's permutation is cached between steps."""

    def __init__(self, spec: JobSpec, data: Dataset) -> None:
        self.spec, self.data = spec, data
        self.batch = int(spec.job["batch_size"])
        self.per_epoch = data.n_train // self.batch
        self._epoch = -1
        self._perm = torch.empty(0, dtype=torch.int64)
        self._augmented = spec.augment["name"] != "none" and data.x.dim() == 4

    def get(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, pos = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(derive_seed(self.spec.seed, "epoch", epoch))
            self._perm, self._epoch = torch.randperm(self.data.n_train, generator=g), epoch
        start = pos * self.batch
        idx = self._perm[start : start + self.batch]
        # index_select: the rows x[idx] would copy, without advanced indexing's overhead
        x = self.data.x.index_select(0, idx)
        if self._augmented:
            x = _augment(self.spec, x, step)
        return x, self.data.y.index_select(0, idx)
