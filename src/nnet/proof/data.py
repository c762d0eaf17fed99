"""Datasets named by a job spec: safetensors (`x`, `y`), IDX / IDX.gz (as MNIST ships), NPZ.

`load_dataset(spec)` checks each file's CID against the spec before using a byte of it, then
holds the whole set in memory as tensors: inputs float32 divided by `data.scale` (or int64 tokens
for a transformer) and int64 labels. The last `data.holdout` examples are never trained on; the
proof reports accuracy on them. Batch order and augmentation are pure functions of (seed, step).
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nnet.errors import MalformedInput, NotFound, VerificationFailed
from nnet.proof.spec import JobSpec
from nnet.store.cid import compute_file_cid

__all__ = ["BatchSource", "Dataset", "compute_data_cids", "derive_seed", "load_dataset"]

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


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
    cid = compute_file_cid(spec.resolve(data["path"]))
    labels_cid = compute_file_cid(spec.resolve(data["labels"])) if data["labels"] else None
    return cid, labels_cid


def _check_cids(spec: JobSpec) -> None:
    cid, labels_cid = compute_data_cids(spec)
    for key, found in (("cid", cid), ("labels_cid", labels_cid)):
        want = spec.data.get(key)
        if want is not None and found != want:
            raise VerificationFailed(
                f"dataset: data.{key} is {want} but the file has CID {found}",
                hint="this is not the committed dataset",
            )


def _read_idx(path: Path) -> np.ndarray:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"no such data file: {path}") from None
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise MalformedInput(f"{path} is not an IDX file")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)) * dtype.itemsize:
        raise MalformedInput(f"{path}: IDX header says {dims} but the body has {len(body)} bytes")
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _read_pair(spec: JobSpec) -> tuple[np.ndarray, np.ndarray]:
    data, path = spec.data, spec.resolve(spec.data["path"])
    if data["format"] == "idx":
        return _read_idx(path), _read_idx(spec.resolve(data["labels"]))
    if not path.exists():
        raise NotFound(f"no such data file: {path}")
    if data["format"] == "npz":
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z or "y" not in z:
                raise MalformedInput(f"{path} must hold arrays named x and y")
            return z["x"], z["y"]
    from safetensors.numpy import load_file

    arrays = load_file(str(path))
    if "x" not in arrays or "y" not in arrays:
        raise MalformedInput(f"{path} must hold tensors named x and y")
    return arrays["x"], arrays["y"]


def load_dataset(spec: JobSpec, *, check_cids: bool = True) -> Dataset:
    """The spec's dataset, CID-checked, as tensors."""
    if check_cids:
        _check_cids(spec)
    x_np, y_np = _read_pair(spec)
    if len(x_np) != len(y_np):
        raise MalformedInput(f"dataset has {len(x_np)} inputs but {len(y_np)} labels")
    lm = spec.model["name"] == "transformer"
    if lm:
        x = torch.from_numpy(x_np.astype(np.int64))
        if x.dim() != 2 or tuple(y_np.shape) != tuple(x_np.shape):
            raise MalformedInput("transformer data must be x, y token arrays of shape [N, T]")
        classes = int(spec.model["vocab"])
    else:
        x = torch.from_numpy(x_np.astype(np.float32)) / float(spec.data["scale"])
        if spec.model["name"] in ("cnn", "resnet20") and x.dim() == 3:
            x = x.unsqueeze(1)  # IDX images are [N, H, W]; conv nets want a channel axis
        classes = int(y_np.max()) + 1 if len(y_np) else 0
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

    def get(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, pos = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(derive_seed(self.spec.seed, "epoch", epoch))
            self._perm, self._epoch = torch.randperm(self.data.n_train, generator=g), epoch
        idx = self._perm[pos * self.batch : (pos + 1) * self.batch]
        return _augment(self.spec, self.data.x[idx], step), self.data.y[idx]
