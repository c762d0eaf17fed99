"""A run directory: what `nnet train` leaves behind and `nnet prove` / `nnet verify` read.

    RUN/job.toml            the job spec as trained (absolute data paths, dataset CIDs filled in)
    RUN/run.json            manifest: spec hash, dataset CID, environment class, final hash, metrics
    RUN/leaves.txt          one checkpoint hash per line, in order (appended while training)
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

from nnet.encoding import hex_to_bytes, strict_loads
from nnet.errors import MalformedInput, NotFound, UsageError
from nnet.proof.merkle import compute_merkle_path, compute_merkle_root
from nnet.proof.spec import JobSpec, parse_spec

__all__ = ["RunDir", "is_retained"]

RUN_FORMAT = "nnet.run/1"


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
    def leaves_path(self) -> Path:
        return self.root / "leaves.txt"

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

    def read_leaves(self) -> list[bytes]:
        try:
            lines = self.leaves_path.read_text(encoding="ascii").split()
        except FileNotFoundError:
            return []
        except UnicodeDecodeError:
            raise MalformedInput(f"{self.leaves_path} is not ASCII hex") from None
        return [
            hex_to_bytes(ln, f"{self.leaves_path.name} line {i + 1}", 32)
            for i, ln in enumerate(lines)
        ]

    def write_leaves(self, leaves: list[bytes]) -> None:
        tmp = self.leaves_path.with_suffix(".txt.tmp")
        tmp.write_text("".join(f"0x{h.hex()}\n" for h in leaves), encoding="ascii")
        os.replace(tmp, self.leaves_path)

    def append_leaf(self, digest: bytes) -> None:
        with open(self.leaves_path, "a", encoding="ascii") as f:
            f.write(f"0x{digest.hex()}\n")

    def get_commitment(self) -> dict[str, Any]:
        """The commitment fields of a finished run (what `nnet prove` signs), without torch."""
        m = self.read_manifest()
        if not m.get("complete"):
            raise UsageError(
                f"the run in {self.root} is not finished (stopped at step {m.get('steps_done')})",
                hint="continue it with `nnet train SPEC -o RUN --resume`",
            )
        leaves = self.read_leaves()
        if len(leaves) != m["checkpoints"]:
            raise MalformedInput(
                f"{self.leaves_path} lists {len(leaves)} checkpoints; "
                f"run.json says {m['checkpoints']}"
            )
        return {
            "spec": m["spec"],
            "dataset": m["dataset"],
            "init": "0x" + leaves[0].hex(),
            "root": "0x" + compute_merkle_root(leaves).hex(),
            "checkpoints": len(leaves),
            "final": m["final"],
            "metrics": m["metrics"],
            "env": m["env"]["class"],
            "mode": m["mode"],
        }

    def get_merkle_path(self, index: int) -> list[bytes]:
        """The prover's opening path for checkpoint `index`, from its list of leaves."""
        return compute_merkle_path(self.read_leaves(), index)
