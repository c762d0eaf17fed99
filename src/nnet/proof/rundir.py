"""A run directory: what `nnet train` leaves behind and `nnet prove` / `nnet verify` read.

    RUN/job.toml            the job spec as trained (absolute data paths, dataset CIDs filled in)
    RUN/run.json            manifest: spec hash, dataset CID, environment class, final hash, metrics
    RUN/trace.jsonl         one committed entry per checkpoint, in order (proof/trace.py)
    RUN/ckpt/NNNNNN.safetensors   retained checkpoints: every keep_every-th, the last, the latest
    RUN/model.safetensors   the final model weights

This module is torch-free (so `nnet prove` starts fast); opening a checkpoint that the retention
tiers dropped regenerates it by re-execution, which imports torch through proof/replay.py.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnet.cid import compute_file_cid
from nnet.encoding import strict_loads
from nnet.errors import MalformedInput, NotFound, UsageError
from nnet.proof.spec import JobSpec, parse_spec
from nnet.proof.trace import TraceEntry, compute_trace_root, parse_trace, read_trace_file

__all__ = ["RunDir", "is_retained"]

RUN_FORMAT = "nnet.run/2"


def is_retained(index: int, last: int, keep_every: int) -> bool:
    """Tiered retention: the init, every keep_every-th checkpoint and the last stay on disk."""
    return index % keep_every == 0 or index == last


@dataclass(frozen=True)
class RunDir:
    """Paths and readers for one run directory."""

    root: Path

    @property
    def spec_path(self) -> Path:
        return self.root / "job.toml"

    @property
    def manifest_path(self) -> Path:
        return self.root / "run.json"

    @property
    def trace_path(self) -> Path:
        return self.root / "trace.jsonl"

    @property
    def model_path(self) -> Path:
        return self.root / "model.safetensors"

    def checkpoint_path(self, index: int) -> Path:
        return self.root / "ckpt" / f"{index:06d}.safetensors"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def read_spec(self) -> JobSpec:
        try:
            doc = tomllib.loads(self.spec_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(f"{self.root} is not a run directory (no job.toml)") from None
        except tomllib.TOMLDecodeError as e:
            raise MalformedInput(f"{self.spec_path}: {e}") from None
        return parse_spec(doc, self.root)

    def read_manifest(self) -> dict[str, Any]:
        try:
            data = strict_loads(self.manifest_path.read_bytes())
        except FileNotFoundError:
            raise NotFound(
                f"{self.root} is not a run directory (no run.json)",
                hint="make one with `nnet train SPEC -o DIR`",
            ) from None
        if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
            raise MalformedInput(f"{self.manifest_path} is not an nnet run manifest")
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        tmp = self.manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.manifest_path)

    def read_trace(self, expected: int | None = None) -> list[TraceEntry]:
        """The trace entries on disk (all of them, or exactly `expected`)."""
        if expected is not None:
            return read_trace_file(self.trace_path, expected)
        try:
            raw = self.trace_path.read_bytes()
        except FileNotFoundError:
            return []
        return parse_trace(raw, raw.count(b"\n"))

    def write_trace(self, entries: list[TraceEntry]) -> None:
        tmp = self.trace_path.with_suffix(".jsonl.tmp")
        tmp.write_bytes(b"".join(e.line() for e in entries))
        os.replace(tmp, self.trace_path)

    def append_entry(self, entry: TraceEntry) -> None:
        with open(self.trace_path, "ab") as f:
            f.write(entry.line())

    def get_commitment(self, entries: list[TraceEntry] | None = None) -> dict[str, Any]:
        """The commitment fields of a finished run (what `nnet prove` signs), without torch;
        `entries`: the run's trace when the caller has already read it."""
        m = self.read_manifest()
        if not m.get("complete"):
            raise UsageError(
                f"the run in {self.root} is not finished (stopped at step {m.get('steps_done')})",
                hint="resume its training to the end first",
                code="run_unfinished",
            )
        entries = self.read_trace() if entries is None else entries
        if len(entries) != m["checkpoints"]:
            raise MalformedInput(
                f"{self.trace_path} lists {len(entries)} checkpoints; "
                f"run.json says {m['checkpoints']}"
            )
        doc: dict[str, Any] = {
            "spec": m["spec"],
            "dataset": m["dataset"],
            "init": "0x" + entries[0].weights.hex(),
            "root": "0x" + compute_trace_root(entries).hex(),
            "checkpoints": len(entries),
            "trace": compute_file_cid(self.trace_path),
            "final": m["final"],
            "metrics": m["metrics"],
            "env": m["env"]["class"],
            "mode": m["mode"],
        }
        if m.get("labels"):
            doc["labels"] = m["labels"]
        return doc
