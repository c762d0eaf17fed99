"""proof/forgery: a forged run's manifest is consistent with its forged history, metrics included.

The attacks themselves (what the verifier rejects, and why) are tested in test_attacks.py and
attacks/; here only what the forger writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnet.proof.commitment import make_proof
from nnet.proof.data import load_dataset
from nnet.proof.engine import evaluate
from nnet.proof.forgery import Cheat, JobOfRecord, forge_run, load_model, read_states, skip_segments
from nnet.proof.rundir import RunDir
from nnet.proof.spec import load_spec
from nnet.proof.trainer import prepare_spec
from nnet.proof.verifier import VerifyOptions, verify_proof

from .conftest import PROVER_SECRET, copy_run

CLAIMS = ("spec", "dataset", "labels", "checkpoints", "steps_done", "complete", "final", "metrics")


def test_forging_a_run_as_it_is_changes_no_claim(
    tmp_path: Path, tiny_spec: Path, honest_run: RunDir
) -> None:
    run = copy_run(honest_run, tmp_path / "same")
    forge_run(run, read_states(run), load_spec(tiny_spec))
    got, want = run.read_manifest(), honest_run.read_manifest()
    assert {k: got[k] for k in CLAIMS} == {k: want[k] for k in CLAIMS}


def test_forged_final_model_gets_its_metrics(
    tmp_path: Path, tiny_spec: Path, honest_run: RunDir
) -> None:
    """The final model swapped for the one before it, the last loss changed: the manifest's
    metrics are that model's (as the trainer computes them), not the run's old ones."""
    run = copy_run(honest_run, tmp_path / "swapped")
    states = read_states(run)
    states[-1] = states[-2] | {"meta.step": states[-1]["meta.step"]}
    losses = [e.loss for e in run.read_trace()]
    losses[-1] = "0.1234"
    forge_run(run, states, load_spec(tiny_spec), losses)
    spec = prepare_spec(load_spec(tiny_spec))
    data = load_dataset(spec)
    metrics = run.read_manifest()["metrics"]
    assert metrics == evaluate(spec, data, load_model(spec, data, states[-2])) | {
        "train_loss": "0.1234"
    }
    assert metrics != honest_run.read_manifest()["metrics"]


def test_cheat_forges_a_run_the_verifier_faults_only_where_it_cheated(
    tmp_path: Path, tiny_spec: Path, honest_run: RunDir
) -> None:
    """One skipped segment: the final model is not the honest one, yet the forged metrics are
    exactly what the verifier recomputes; replaying every segment finds that one alone."""
    job = JobOfRecord(tiny_spec, honest_run)
    with pytest.raises(ValueError, match="checkpoints for 6 segments"):
        Cheat.after(job, 2).forge(tmp_path / "short")
    run = skip_segments(job, {2}).forge(tmp_path / "skip")
    assert run.read_manifest()["final"] != honest_run.read_manifest()["final"]
    opts = VerifyOptions(spec=load_spec(tiny_spec), q=job.segments, seed=b"all")
    v = verify_proof(make_proof(run, PROVER_SECRET), run, opts)
    assert [r.split(" (")[0] for r in v.reasons] == ["replay: segment 2"], v.reasons
    assert v.metrics == run.read_manifest()["metrics"]
