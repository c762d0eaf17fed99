"""Fixtures for proof-of-learning tests: a tiny synthetic dataset, job specs, honest runs, forgery.

The tiny job (an MLP on 600 random 2x8x8 "images", 60 steps, k = 10) trains and verifies in well
under a second, so the attack suite can run every attack for real.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch

from nnet.proof.forgery import forge_run
from nnet.proof.rundir import RunDir
from nnet.proof.spec import JobSpec, load_spec

PROVER_SECRET = bytes(range(1, 33))
VERIFIER_SECRET = bytes(range(2, 34))

TINY: dict[str, Any] = {
    "job": {"seed": 7, "steps": 60, "batch_size": 32},
    "model": {"name": "mlp", "hidden": [32]},
    "data": {"path": "tiny.safetensors", "holdout": 100},
    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
    "checkpoint": {"every": 10, "keep_every": 1},
}


def make_tiny_data(path: Path, seed: int = 0, n: int = 600) -> None:
    """A learnable synthetic classification set: labels from a random linear map of the inputs."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, 8, 8, generator=g)
    w = torch.randn(128, 3, generator=torch.Generator().manual_seed(0))
    save_file({"x": x.contiguous(), "y": (x.reshape(n, -1) @ w).argmax(1)}, str(path))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) for k, v in base.items()}
    for section, table in over.items():
        if table is None:
            out.pop(section, None)
        elif "name" in table and table["name"] != out.get(section, {}).get("name"):
            out[section] = dict(table)  # another model or optimizer: none of the old options
        else:
            out.setdefault(section, {}).update(table)
    return out


WriteSpec = Callable[..., Path]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pol")
    make_tiny_data(d / "tiny.safetensors")
    make_tiny_data(d / "other.safetensors", seed=1)
    return d


@pytest.fixture(scope="module")
def write_spec(workdir: Path) -> WriteSpec:
    """write_spec(name, **sections) -> path of a job spec: TINY with sections overridden."""

    def write(name: str, **over: dict[str, Any] | None) -> Path:
        path = workdir / f"{name}.toml"
        path.write_text(tomli_w.dumps(_merge(TINY, over)), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="module")
def tiny_spec(write_spec: WriteSpec) -> Path:
    return write_spec("tiny")


@pytest.fixture(scope="module")
def honest_run(workdir: Path, tiny_spec: Path) -> RunDir:
    """A finished honest run of the tiny job (shared: tests must not modify it)."""
    from nnet.proof.trainer import train

    train(load_spec(tiny_spec), workdir / "honest")
    return RunDir(workdir / "honest")


def copy_run(run: RunDir, dest: Path) -> RunDir:
    import shutil

    shutil.copytree(run.root, dest)
    return RunDir(dest)


def forge(run: RunDir, states: list[dict[str, torch.Tensor]], record: JobSpec) -> None:
    """Rewrite a run so it claims the job of record with these checkpoints (see proof/forgery)."""
    forge_run(run, states, record)
