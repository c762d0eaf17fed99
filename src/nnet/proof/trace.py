"""The training trace: one committed record per checkpoint, the leaves of the proof's Merkle tree.

    RUN/trace.jsonl   one canonical JSON object per line, in order:
    {"i": 3, "loss": "0.8123...", "state": "0x…", "step": 30, "weights": "0x…"}

`weights` and `state` identify the checkpoint (proof/checkpoint.py: hash_checkpoint); `loss` is
the mean training loss of the segment that ended at this checkpoint (null for the init), as the
shortest repr of a float64, so a replay in the same class reproduces it to the character.
A leaf of the Merkle tree is keccak256 of the entry's canonical JSON, so the root commits every
checkpoint hash and every segment loss at once.

The verifier reads the whole trace, not only the challenged checkpoints, and checks every entry
(`check_trace`): the steps are the job's, every loss is finite, and no segment leaves the weights
unchanged. That last check is what bounds *skipped compute* rather than faked segments: a run that
jumps into an absorbing state (all-NaN weights, a zero-gradient fixed point) and copies it onward
shows consecutive equal weight hashes in the trace, whichever segments are challenged.
Torch-free: `nnet prove` and the chain's glue read traces without it.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnet.crypto import keccak256
from nnet.encoding import canonical_json, hex_to_bytes, strict_loads
from nnet.errors import MalformedInput, NotFound
from nnet.proof.merkle import compute_merkle_root

__all__ = [
    "MAX_LINE_BYTES",
    "TraceEntry",
    "check_trace",
    "compute_trace_root",
    "format_loss",
    "parse_trace",
    "read_trace_file",
]

MAX_LINE_BYTES = 400  # a canonical entry is about 200 bytes; bounds what a verifier reads
_ENTRY_KEYS = {"i", "step", "weights", "state", "loss"}


@dataclass(frozen=True)
class TraceEntry:
    """The committed record of checkpoint `i`."""

    i: int
    step: int
    weights: bytes
    state: bytes
    loss: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "i": self.i,
            "step": self.step,
            "weights": "0x" + self.weights.hex(),
            "state": "0x" + self.state.hex(),
            "loss": self.loss,
        }

    def line(self) -> bytes:
        return canonical_json(self.to_json()) + b"\n"

    @property
    def leaf(self) -> bytes:
        """The Merkle leaf: keccak256 of the canonical JSON."""
        return keccak256(canonical_json(self.to_json()))


def format_loss(value: float) -> str:
    """A segment loss as committed: the shortest repr of the float64 (`nan`, `inf` included, so a
    cheat that trained into NaN is visible in the trace rather than refused at write time)."""
    return repr(float(value))


def _parse_entry(obj: Any, where: str) -> TraceEntry:
    if not isinstance(obj, dict) or set(obj) != _ENTRY_KEYS:
        raise MalformedInput(f"{where}: a trace entry has exactly the keys {sorted(_ENTRY_KEYS)}")
    for key in ("i", "step"):
        if type(obj[key]) is not int or obj[key] < 0:
            raise MalformedInput(f"{where}: {key} must be a non-negative integer")
    loss = obj["loss"]
    if loss is not None and (not isinstance(loss, str) or len(loss) > 40):
        raise MalformedInput(f"{where}: loss must be a decimal string or null")
    return TraceEntry(
        obj["i"],
        obj["step"],
        hex_to_bytes(obj["weights"], f"{where}.weights", 32),
        hex_to_bytes(obj["state"], f"{where}.state", 32),
        loss,
    )


def parse_trace(raw: bytes, expected: int) -> list[TraceEntry]:
    """Entries of a trace file's bytes; MalformedInput for anything but `expected` well-formed
    lines (checked before parsing, so a hostile file costs at most `expected` short lines)."""
    if len(raw) > expected * MAX_LINE_BYTES:
        raise MalformedInput(f"trace: {len(raw)} bytes is too long for {expected} checkpoints")
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) != expected:
        raise MalformedInput(f"trace: {len(lines)} entries, the job has {expected} checkpoints")
    out = []
    for n, line in enumerate(lines):
        try:
            obj = strict_loads(line)
        except MalformedInput as e:
            raise MalformedInput(f"trace line {n + 1}: {e.message}") from None
        out.append(_parse_entry(obj, f"trace line {n + 1}"))
    return out


def read_trace_file(path: Path, expected: int) -> list[TraceEntry]:
    """A trace from a file the prover controls: a regular file (no symlink, FIFO or device),
    bounded in size before a byte is read."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise NotFound(f"no trace at {path}") from None
    if not stat.S_ISREG(info.st_mode):
        raise MalformedInput(f"trace: {path.name} is not a regular file")
    if info.st_size > expected * MAX_LINE_BYTES:
        raise MalformedInput(f"trace: {info.st_size} bytes is too long for {expected} checkpoints")
    with open(path, "rb") as f:
        return parse_trace(f.read(expected * MAX_LINE_BYTES + 1), expected)


def compute_trace_root(entries: Iterable[TraceEntry]) -> bytes:
    return compute_merkle_root([e.leaf for e in entries])


def _is_canonical_finite(loss: str) -> bool:
    try:
        value = float(loss)
    except ValueError:
        return False
    return math.isfinite(value) and repr(value) == loss


def _ranges(indices: list[int]) -> str:
    """[3, 4, 5, 9] -> '3-5, 9' (at most a few ranges, then a count)."""
    parts: list[str] = []
    start = prev = indices[0]
    for i in [*indices[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(parts[:4]) + (f" and {len(parts) - 4} more ranges" if len(parts) > 4 else "")


def check_trace(
    entries: list[TraceEntry], steps_at: Any, root: bytes, init: str, final: str
) -> list[str]:
    """Reasons the trace fails (empty when it passes). `steps_at(i)` is the job's step of
    checkpoint i; root, init and final are the proof's commitments."""
    reasons: list[str] = []
    bad_order = [e.i for n, e in enumerate(entries) if e.i != n or e.step != steps_at(n)]
    if bad_order:
        reasons.append(f"trace: entries {_ranges(bad_order)} are not at the job's checkpoint steps")
    if compute_trace_root(entries) != root:
        reasons.append("trace: the trace does not hash to the committed Merkle root")
    if entries[0].loss is not None:
        reasons.append("trace: the init (entry 0) has a loss; it ends no segment")
    bad_loss = [e.i for e in entries[1:] if e.loss is None or not _is_canonical_finite(e.loss)]
    if bad_loss:
        reasons.append(
            f"trace: segments ending at checkpoints {_ranges(bad_loss)} commit no finite loss "
            "(a model trained into NaN or inf, or a loss left out)"
        )
    frozen = [n for n in range(len(entries) - 1) if entries[n].weights == entries[n + 1].weights]
    if frozen:
        reasons.append(
            f"absorbing: segments {_ranges(frozen)} leave the weights unchanged; "
            f"{len(frozen)} of {len(entries) - 1} segments trained nothing (a copied state)"
        )
    if "0x" + entries[0].weights.hex() != init:
        reasons.append("trace: entry 0 is not the committed init")
    if "0x" + entries[-1].weights.hex() != final:
        reasons.append("final: the committed final model is not the last checkpoint's weights")
    return reasons
