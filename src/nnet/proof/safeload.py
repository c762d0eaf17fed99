"""Reading files that a possibly-cheating prover wrote, without crashing on them.

A verifier that crashes signs nothing, and a cheat that is never judged is refunded instead of
slashed. So every malformed file becomes `MalformedInput` with a one-line reason, and whatever can
be checked by hand is checked before any parser sees a byte: the kind of file (no symlinks, FIFOs,
devices or directories), where it lies, its size, and the safetensors header (declared length,
JSON, dtypes, offsets). Only then does the safetensors library parse it, from the very file that
was checked (never pickle). `check_checkpoint` then holds the tensors against the job's template.

The file helpers (`open_regular_file`, `inspect_safetensors`, `parse_safetensors`) also serve the
dataset reader (proof/data.py).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import stat
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import torch

from nnet.errors import MalformedInput, NotFound

__all__ = [
    "CHECKPOINT_DTYPES",
    "MAX_CHECKPOINT_BYTES",
    "MAX_HEADER_BYTES",
    "Template",
    "check_checkpoint",
    "compute_template",
    "inspect_safetensors",
    "open_regular_file",
    "parse_safetensors",
    "read_untrusted_checkpoint",
]

MAX_CHECKPOINT_BYTES = 64 << 30
# the safetensors library's own limit; a longer header is an attack, not a model
MAX_HEADER_DEPTH = 8  # a safetensors header is 3 deep: {name: {"shape": [...]}}
MAX_HEADER_BYTES = 100_000_000
_FINITE_CHUNK = 1 << 24  # elements per isfinite pass: bounds the temporary bool tensor

# bytes per element of every safetensors dtype code nnet reads (checkpoints or data)
_ITEMSIZE = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U64": 8,
    "U32": 4,
    "U16": 2,
    "U8": 1,
    "BOOL": 1,
}
# what a training state can hold: float weights and optimizer state, integer counters, RNG bytes
CHECKPOINT_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}

Template = dict[str, tuple[torch.dtype, tuple[int, ...]]]
Layout = dict[str, tuple[str, tuple[int, ...]]]  # tensor name -> (dtype code, shape)
T = TypeVar("T")

_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISLNK, "a symlink"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_untrusted_checkpoint(
    path: Path, *, root: Path | None = None, max_bytes: int = MAX_CHECKPOINT_BYTES
) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file from a prover; MalformedInput (NotFound if it is gone)
    for anything but a regular file inside `root` holding well-formed safetensors of allowed
    dtypes. Nothing is unpickled; the file is read only after its header checks out."""
    label = f"checkpoint {path.name}"
    with open_regular_file(
        path, label=label, max_bytes=max_bytes, follow_symlinks=False, root=root
    ) as (f, size):
        layout = inspect_safetensors(f, size, label=label, dtypes=CHECKPOINT_DTYPES)
        from safetensors.torch import load_file

        tensors = parse_safetensors(f, path, label, load_file)
        if not _takes_backend(load_file):  # mapped from the file: copy while it is still whole
            tensors = {name: t.clone() for name, t in tensors.items()}
    for name, (code, shape) in layout.items():
        t = tensors.get(name)
        if t is None or t.dtype != CHECKPOINT_DTYPES[code] or tuple(t.shape) != shape:
            raise MalformedInput(f"{label}: tensor {_show(name)} reads back unlike its header")
    if len(tensors) != len(layout):
        raise MalformedInput(f"{label} reads back more tensors than its header names")
    return tensors


def compute_template(tensors: Mapping[str, torch.Tensor]) -> Template:
    """Name -> (dtype, shape) of each tensor: what every checkpoint of the job must look like."""
    return {name: (t.dtype, tuple(t.shape)) for name, t in tensors.items()}


def check_checkpoint(
    tensors: Mapping[str, torch.Tensor],
    template: Mapping[str, tuple[torch.dtype, tuple[int, ...]]],
    *,
    step: int,
    label: str,
) -> None:
    """MalformedInput naming the first thing wrong: `meta.step` (absent, empty, not one int64, not
    `step`), missing or extra tensors, a dtype or shape unlike the template, NaN or inf values."""
    _check_step(tensors, step, label)
    missing = sorted(set(template) - set(tensors))
    if missing:
        raise MalformedInput(f"{label}: missing tensors {_names(missing)}")
    extra = sorted(set(tensors) - set(template))
    if extra:
        raise MalformedInput(f"{label}: unexpected tensors {_names(extra)}")
    for name in sorted(template):
        dtype, shape = template[name]
        t = tensors[name]
        if t.dtype != dtype:
            raise MalformedInput(
                f"{label}: {_show(name)} is {_dtype(t.dtype)}, not {_dtype(dtype)}"
            )
        if tuple(t.shape) != tuple(shape):
            raise MalformedInput(
                f"{label}: {_show(name)} has shape {list(t.shape)}, not {list(shape)}"
            )
    for name in sorted(template):
        if not _is_finite(tensors[name]):
            raise MalformedInput(f"{label}: non-finite values in {_show(name)}")


def _check_step(tensors: Mapping[str, torch.Tensor], step: int, label: str) -> None:
    t = tensors.get("meta.step")
    if t is None:
        raise MalformedInput(f"{label}: meta.step is missing")
    if t.dtype != torch.int64:
        raise MalformedInput(f"{label}: meta.step is {_dtype(t.dtype)}, not int64")
    if t.numel() == 0:
        raise MalformedInput(f"{label}: meta.step is empty")
    if t.numel() != 1:
        raise MalformedInput(f"{label}: meta.step holds {t.numel()} values, not 1")
    got = int(t.reshape(-1)[0])
    if got != step:
        raise MalformedInput(f"{label}: meta.step is {got}, expected {step}")


def _is_finite(t: torch.Tensor) -> bool:
    if not t.is_floating_point():
        return True
    flat = t.detach().reshape(-1)
    return all(
        bool(torch.isfinite(flat[i : i + _FINITE_CHUNK]).all())
        for i in range(0, flat.numel(), _FINITE_CHUNK)
    )


@contextmanager
def open_regular_file(
    path: Path,
    *,
    label: str,
    max_bytes: int,
    follow_symlinks: bool,
    root: Path | None = None,
) -> Iterator[tuple[BinaryIO, int]]:
    """(file, size) of a regular file of at most `max_bytes`, inside `root` when given.

    The kind is read with (l)stat before opening, so a FIFO or a device is never opened (opening
    a FIFO blocks, reading /dev/zero never ends); the open file is checked again with fstat, so
    what is read is what was checked."""
    try:
        st = os.stat(path, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        raise NotFound(f"{label} does not exist") from None
    except OSError as e:
        raise MalformedInput(f"{label} cannot be read: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise MalformedInput(f"{label} is {_kind(st.st_mode)}, not a regular file")
    if root is not None and not _is_inside(path, root):
        raise MalformedInput(f"{label} lies outside {root}")
    if st.st_size > max_bytes:
        raise MalformedInput(f"{label} is {st.st_size} bytes, over the limit of {max_bytes}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise MalformedInput(f"{label} cannot be opened: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
            raise MalformedInput(f"{label} changed while it was being opened")
        if now.st_size > max_bytes:
            raise MalformedInput(f"{label} is {now.st_size} bytes, over the limit of {max_bytes}")
        yield f, now.st_size


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _is_inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop on the way
        return False


def inspect_safetensors(f: BinaryIO, size: int, *, label: str, dtypes: Collection[str]) -> Layout:
    """The tensors a safetensors file declares, name -> (dtype code, shape), after checking its
    header by hand: a sane declared length, a JSON object without repeated keys, string metadata,
    dtypes in `dtypes`, and byte ranges that match the shapes and tile the data exactly (no
    overlap, no gap, nothing past the end)."""
    if size < 8:
        raise MalformedInput(f"{label} is too short to be safetensors ({size} bytes)")
    f.seek(0)
    n = int.from_bytes(f.read(8), "little")
    if n > MAX_HEADER_BYTES:
        raise MalformedInput(
            f"{label} declares a safetensors header of {n} bytes (the limit is {MAX_HEADER_BYTES})"
        )
    if n > size - 8:
        raise MalformedInput(
            f"{label} declares a safetensors header of {n} bytes but only {size - 8} follow"
        )
    raw = f.read(n)
    if len(raw) != n:
        raise MalformedInput(f"{label} ends inside its safetensors header")
    try:
        text = raw.decode("utf-8")
        if _json_depth(text) > MAX_HEADER_DEPTH:  # before the C parser recurses off the stack
            raise ValueError("nested too deeply")
        header = json.loads(text, object_pairs_hook=_unique_keys)
    except _RepeatedKeyError as e:
        raise MalformedInput(
            f"{label}: the safetensors header names {_show(e.key)} twice"
        ) from None
    except (ValueError, RecursionError):
        raise MalformedInput(f"{label}: the safetensors header is not JSON") from None
    if not isinstance(header, dict):
        raise MalformedInput(
            f"{label}: the safetensors header is a JSON {type(header).__name__}, not an object"
        )
    meta = header.pop("__metadata__", None)
    if meta is not None and not (
        isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())
    ):
        raise MalformedInput(f"{label}: the safetensors __metadata__ is not a table of strings")
    layout: Layout = {}
    spans: list[tuple[int, int, str]] = []
    data_len = size - 8 - n
    for name, entry in header.items():
        code, shape, begin, end = _entry(name, entry, label, dtypes)
        need = math.prod(shape) * _ITEMSIZE[code]
        if end - begin != need:
            raise MalformedInput(
                f"{label}: tensor {_show(name)} of shape {list(shape)} {code} takes {need} bytes "
                f"but its offsets span {end - begin}"
            )
        if end > data_len:
            raise MalformedInput(
                f"{label}: tensor {_show(name)} runs past the end of the file "
                f"(bytes {begin}-{end} of {data_len})"
            )
        layout[name] = (code, shape)
        spans.append((begin, end, name))
    _check_tiling(sorted(spans), data_len, label)
    return layout


def _entry(
    name: str, entry: object, label: str, dtypes: Collection[str]
) -> tuple[str, tuple[int, ...], int, int]:
    where = f"{label}: tensor {_show(name)}"
    if not isinstance(entry, dict):
        raise MalformedInput(f"{where} is described by a JSON {type(entry).__name__}")
    code, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(code, str) or code not in dtypes or code not in _ITEMSIZE:
        allowed = ", ".join(c for c in _ITEMSIZE if c in dtypes)
        raise MalformedInput(f"{where} has dtype {_show(code)}; allowed: {allowed}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise MalformedInput(f"{where} has shape {_show(shape)}, not a list of counts")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
        raise MalformedInput(f"{where} has data_offsets {_show(offsets)}, not [begin, end]")
    begin, end = offsets
    if begin > end:
        raise MalformedInput(
            f"{where} has data_offsets {_show(offsets)} that end before they begin"
        )
    return code, tuple(shape), begin, end


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _json_depth(text: str) -> int:
    """The deepest bracket nesting of a JSON text, strings skipped (no recursion)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _check_tiling(spans: list[tuple[int, int, str]], data_len: int, label: str) -> None:
    pos, prev = 0, ""
    for begin, end, name in spans:
        if begin < pos:
            raise MalformedInput(f"{label}: tensors {_show(prev)} and {_show(name)} overlap")
        if begin > pos:
            raise MalformedInput(f"{label}: {begin - pos} stray bytes before tensor {_show(name)}")
        pos, prev = end, name
    if pos != data_len:
        raise MalformedInput(f"{label}: {data_len - pos} stray bytes after the last tensor")


def parse_safetensors(f: BinaryIO, path: Path, label: str, load: Callable[..., T]) -> T:
    """`load` (a safetensors `load_file`) applied to the open file `f`, through /proc/self/fd
    where there is one, so the library reads the file that was checked even if the path has since
    been swapped. Whatever the library raises becomes MalformedInput.

    Where the library offers it (safetensors >= 0.8) the bytes are read with pread into memory of
    their own: tensors mapped from the file would crash the process (SIGBUS) if it were
    truncated while they are in use."""
    via_fd = f"/proc/self/fd/{f.fileno()}"
    source = via_fd if os.path.exists(via_fd) else str(path)
    try:
        return load(source, backend="pread") if _takes_backend(load) else load(source)
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise  # the verifier's own trouble, not evidence against the file
    except BaseException as e:  # a Rust panic surfaces as pyo3's PanicException(BaseException)
        raise MalformedInput(f"{label} does not parse as safetensors: {_one_line(e)}") from None


def _takes_backend(load: Callable[..., object]) -> bool:
    try:
        return "backend" in inspect.signature(load).parameters
    except (TypeError, ValueError):
        return False


class _RepeatedKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKeyError(key)
        out[key] = value
    return out


def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _names(names: list[str]) -> str:
    shown = ", ".join(_show(n) for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _show(value: object) -> str:
    """An untrusted name or value fit for a one-line message."""
    text = value if isinstance(value, str) and value.isprintable() else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."
