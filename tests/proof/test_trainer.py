"""The trainer: deterministic, resumable bit for bit, tiered retention that regenerates exactly,
and every registered model, optimizer and augmentation trains and verifies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnet.errors import UsageError, VerificationFailed
from nnet.proof.checkpoint import CheckpointHash, hash_checkpoint, write_checkpoint
from nnet.proof.commitment import make_proof
from nnet.proof.data import load_dataset
from nnet.proof.replay import load_run_checkpoints, open_checkpoint
from nnet.proof.rundir import RunDir
from nnet.proof.spec import load_spec
from nnet.proof.trainer import TrainOptions, prepare_spec, train
from nnet.proof.verifier import VerifyOptions, verify_proof

from .conftest import PROVER_SECRET, WriteSpec


def test_same_spec_same_checkpoints(tmp_path: Path, tiny_spec: Path, honest_run: RunDir) -> None:
    again = train(load_spec(tiny_spec), tmp_path / "again")
    assert RunDir(tmp_path / "again").read_trace() == honest_run.read_trace()
    assert again["final"] == honest_run.read_manifest()["final"]
    assert len(honest_run.read_trace()) == 7  # init + 6 segments
    assert float(again["metrics"]["heldout_accuracy"]) > 0.5  # it learned (3 classes)


def test_interrupt_then_resume_is_bit_identical(
    tmp_path: Path, tiny_spec: Path, honest_run: RunDir
) -> None:
    spec = load_spec(tiny_spec)
    with pytest.raises(KeyboardInterrupt):
        train(spec, tmp_path / "r", TrainOptions(stop_at=35))
    run = RunDir(tmp_path / "r")
    assert not run.read_manifest()["complete"]
    with pytest.raises(UsageError, match="not finished"):
        make_proof(run, PROVER_SECRET)
    with pytest.raises(UsageError) as refused:
        train(spec, tmp_path / "r")
    assert refused.value.code == "run_exists" and "resume" in refused.value.one_line()
    train(spec, tmp_path / "r", TrainOptions(resume=True))
    assert run.read_trace() == honest_run.read_trace()
    assert run.read_manifest()["final"] == honest_run.read_manifest()["final"]


def test_resume_after_an_interrupt_before_the_first_checkpoint_starts_over(
    tmp_path: Path, tiny_spec: Path, honest_run: RunDir
) -> None:
    spec = load_spec(tiny_spec)
    with pytest.raises(KeyboardInterrupt):
        train(spec, tmp_path / "r", TrainOptions(stop_at=35))
    run = RunDir(tmp_path / "r")
    for f in (run.root / "ckpt").glob("*.safetensors"):  # as if stopped before any checkpoint
        f.unlink()
    train(spec, tmp_path / "r", TrainOptions(resume=True))
    assert run.read_trace() == honest_run.read_trace()
    assert run.read_manifest()["final"] == honest_run.read_manifest()["final"]


def test_output_that_is_a_file_is_a_usage_error(tmp_path: Path, tiny_spec: Path) -> None:
    f = tmp_path / "not-a-folder"
    f.write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        train(load_spec(tiny_spec), f)


def test_retention_keeps_tiers_and_regenerates_exactly(
    tmp_path: Path, write_spec: WriteSpec, honest_run: RunDir
) -> None:
    spec = load_spec(write_spec("tiered", checkpoint={"every": 10, "keep_every": 4}))
    train(spec, tmp_path / "t")
    run = RunDir(tmp_path / "t")
    kept = sorted(p.name for p in (run.root / "ckpt").iterdir())
    assert kept == ["000000.safetensors", "000004.safetensors", "000006.safetensors"]
    spec = prepare_spec(spec)
    data = load_dataset(spec)
    tensors, steps = open_checkpoint(run, spec, data, 3)
    assert steps == 30
    entry = run.read_trace()[3]
    assert hash_checkpoint(tensors) == CheckpointHash(entry.weights, entry.state)
    # retention changes what is on disk, never what is committed
    assert run.read_trace() == honest_run.read_trace()
    proof = make_proof(run, PROVER_SECRET)
    options = VerifyOptions(spec=spec, seed=b"s", q=6)
    verdict = verify_proof(proof, run, options)
    # a verifier never regenerates what the prover did not open: that is the prover's work
    assert not verdict.accept
    assert {r.split(":")[0] for r in verdict.reasons} == {"opening"}, verdict.reasons
    missing = [i for i in range(7) if not run.checkpoint_path(i).exists()]
    for i, tensors in zip(missing, load_run_checkpoints(run, missing), strict=True):
        write_checkpoint(run.checkpoint_path(i), tensors, {})  # the prover opens them
    verdict = verify_proof(proof, run, options)
    assert verdict.accept, verdict.reasons


def test_refuses_wrong_dataset_cid(write_spec: WriteSpec, tmp_path: Path) -> None:
    wrong = "bafkreide5semuafsnds3ugrvm6fbwuyw2ijpj43gwjdxemstjkfozi37hq"
    spec = load_spec(write_spec("wrongcid", data={"cid": wrong}))
    with pytest.raises(VerificationFailed, match="dataset"):
        train(spec, tmp_path / "w")
    assert not (tmp_path / "w").exists()


def _images(workdir: Path, name: str, shape: tuple[int, ...], classes: int) -> str:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=shape, dtype=np.uint8)
    y = rng.integers(0, classes, size=shape[0]).astype(np.int64)
    np.savez(workdir / name, x=x, y=y)
    return name


ZOO: dict[str, dict[str, dict[str, Any]]] = {
    "cnn-adamw-augment": {
        "model": {"name": "cnn", "channels": [4, 8], "hidden": 16},
        "optimizer": {"name": "adamw", "lr": 0.003},
        "augment": {"name": "crop-flip", "pad": 2},
        "schedule": {"name": "cosine", "warmup": 3},
    },
    "resnet20-step": {
        "model": {"name": "resnet20", "width": 4},
        "schedule": {"name": "step", "milestones": [10]},
        "augment": {"name": "shift", "pad": 1},
    },
    "transformer": {
        "model": {
            "name": "transformer",
            "d_model": 16,
            "heads": 2,
            "layers": 1,
            "vocab": 11,
            "dropout": 0.1,
        },
        "optimizer": {"name": "adamw", "lr": 0.01, "weight_decay": 0.01},
    },
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_model_zoo_trains_and_verifies(
    name: str, workdir: Path, write_spec: WriteSpec, tmp_path: Path
) -> None:
    over = {k: dict(v) for k, v in ZOO[name].items()}
    if name == "transformer":
        rng = np.random.default_rng(5)
        seqs = rng.integers(0, 11, size=(200, 13))
        np.savez(workdir / "tokens.npz", x=seqs[:, :-1], y=seqs[:, 1:])
        data = "tokens.npz"
    else:
        data = _images(workdir, f"{name}.npz", (200, 3, 8, 8), 4)
    doc = write_spec(
        name,
        job={"steps": 20, "batch_size": 16},
        data={"path": data, "holdout": 40, "scale": 255.0},
        checkpoint={"every": 5},
        **over,
    )
    spec = load_spec(doc)
    m = train(spec, tmp_path / name)
    run = RunDir(tmp_path / name)
    options = VerifyOptions(spec=run.read_spec(), seed=b"z")
    verdict = verify_proof(make_proof(run, PROVER_SECRET), run, options)
    assert verdict.accept, verdict.reasons
    assert verdict.replayed_steps == 20
    assert m["metrics"]["heldout_n"] > 0
