"""The attack suite (POL.md): each cheat is rejected with a reason naming the check it failed;
the honest run is accepted every time in exact mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from nnet.crypto import address_of_private_key
from nnet.proof.checkpoint import read_checkpoint, write_checkpoint
from nnet.proof.commitment import make_proof
from nnet.proof.data import load_dataset
from nnet.proof.document import sign_document
from nnet.proof.engine import set_determinism
from nnet.proof.forgery import interpolate_states
from nnet.proof.replay import replay_segment
from nnet.proof.rundir import RunDir
from nnet.proof.spec import load_spec
from nnet.proof.trainer import prepare_spec, train
from nnet.proof.verifier import Verdict, VerifyOptions, verify_proof

from .conftest import PROVER_SECRET, VERIFIER_SECRET, WriteSpec, copy_run, forge

RECORD: list[Path] = []  # the job of record (the tiny spec), set by the autouse fixture


@pytest.fixture(autouse=True)
def _record(tiny_spec: Path) -> None:
    RECORD[:] = [tiny_spec]


def judge(run: RunDir, record: Path | None = None, **opts: Any) -> Verdict:
    proof = make_proof(run, PROVER_SECRET)
    return verify(proof, run, record, **{"seed": b"fixed", **opts})


def verify(
    proof: dict[str, object], run: RunDir, record: Path | None = None, **opts: Any
) -> Verdict:
    """The verifier judging against the job of record (the tiny job unless given)."""
    spec = load_spec(record or RECORD[0])
    return verify_proof(proof, run, VerifyOptions(spec=spec, **opts))


def checks(v: Verdict) -> set[str]:
    return {r.split(":", 1)[0] for r in v.reasons}


def states(run: RunDir) -> list[dict[str, torch.Tensor]]:
    return [read_checkpoint(run.checkpoint_path(i)) for i in range(len(run.read_trace()))]


def test_honest_run_accepted_every_time(honest_run: RunDir) -> None:
    proof = make_proof(honest_run, PROVER_SECRET)
    for seed in (b"a", b"b", b"c"):
        v = verify(proof, honest_run, seed=seed, q=2)
        assert v.accept, v.reasons
        assert v.replayed_steps <= 30  # 2 random segments + the final one, 10 steps each


def test_lazy_training_with_interpolated_checkpoints(
    tmp_path: Path, tiny_spec: Path, honest_run: RunDir
) -> None:
    run = copy_run(honest_run, tmp_path / "lazy")
    forge(run, interpolate_states(states(run)), load_spec(tiny_spec))
    v = judge(run)
    assert "replay" in checks(v), v.reasons


def test_final_model_from_elsewhere(
    tmp_path: Path, write_spec: WriteSpec, tiny_spec: Path, honest_run: RunDir
) -> None:
    # (a) history fabricated around a model trained elsewhere (another seed)
    train(load_spec(write_spec("elsewhere", job={"seed": 99})), tmp_path / "else")
    foreign = states(RunDir(tmp_path / "else"))[-1]
    run = copy_run(honest_run, tmp_path / "fab")
    fake = [states(run)[0]] + [
        {**foreign, "meta.step": torch.tensor([10 * i])} for i in range(1, 7)
    ]
    forge(run, fake, load_spec(tiny_spec))
    assert "replay" in checks(judge(run))
    # (b) an honest history, but a final model swapped in afterwards
    run = copy_run(honest_run, tmp_path / "swap")
    weights = {k[6:]: t for k, t in foreign.items() if k.startswith("model.")}
    write_checkpoint(run.model_path, weights, {})
    m = run.read_manifest()
    from nnet.proof.checkpoint import compute_tensors_hash

    run.write_manifest({**m, "final": "0x" + compute_tensors_hash(weights).hex()})
    v = judge(run)
    assert checks(v) == {"final"}, v.reasons


def test_other_data_than_committed(tmp_path: Path, write_spec: WriteSpec, tiny_spec: Path) -> None:
    other = write_spec("otherdata", data={"path": "other.safetensors"})
    train(load_spec(other), tmp_path / "od")
    run = RunDir(tmp_path / "od")
    # presented as is against the job of record: the committed dataset is not the job's
    assert {"dataset", "spec"} <= checks(judge(run, record=tiny_spec))
    # relabelled to claim the job's dataset: replay on the real data does not reproduce it
    forge(run, states(run), load_spec(tiny_spec))
    assert "replay" in checks(judge(run, record=tiny_spec))


@pytest.mark.parametrize("change", [{"optimizer": {"lr": 0.2}}, {"job": {"batch_size": 16}}])
def test_other_hyperparameters(
    tmp_path: Path, write_spec: WriteSpec, tiny_spec: Path, change: dict[str, dict[str, float]]
) -> None:
    name = "hp-" + "-".join(f"{k}" for t in change.values() for k in t)
    train(load_spec(write_spec(name, **change)), tmp_path / name)
    run = RunDir(tmp_path / name)
    assert "spec" in checks(judge(run, record=tiny_spec))
    forge(run, states(run), load_spec(tiny_spec))
    v = judge(run, record=tiny_spec)
    assert checks(v) == {"replay"}, v.reasons


def test_init_not_from_seed(tmp_path: Path, write_spec: WriteSpec, tiny_spec: Path) -> None:
    train(load_spec(write_spec("seed8", job={"seed": 8})), tmp_path / "s8")
    run = RunDir(tmp_path / "s8")
    forge(run, states(run), load_spec(tiny_spec))
    v = judge(run, record=tiny_spec)
    assert "init" in checks(v), v.reasons


def test_checkpoint_altered_after_commitment(tmp_path: Path, honest_run: RunDir) -> None:
    run = copy_run(honest_run, tmp_path / "alt")
    proof = make_proof(run, PROVER_SECRET)
    st = read_checkpoint(run.checkpoint_path(3))
    st["model.net.1.weight"][0, 0] += 1e-3
    write_checkpoint(run.checkpoint_path(3), st, {})
    v = verify(proof, run, seed=b"x")
    assert any(r.startswith("opening: checkpoint 3") for r in v.reasons), v.reasons


def test_proof_replayed_for_another_job(honest_run: RunDir, write_spec: WriteSpec) -> None:
    other_job = write_spec("otherjob", job={"seed": 11})
    v = judge(honest_run, record=other_job)
    assert "spec" in checks(v), v.reasons
    proof = make_proof(honest_run, PROVER_SECRET, job="17")
    v = verify(proof, honest_run, seed=b"x", q=1, job="18")
    # the run was not trained for job 17 either: its init is not the one bound to (17, prover)
    assert checks(v) >= {"job", "init"}, v.reasons


def test_missing_or_mismatched_openings(tmp_path: Path, honest_run: RunDir) -> None:
    run = copy_run(honest_run, tmp_path / "miss")
    proof = make_proof(run, PROVER_SECRET)
    for f in (run.root / "ckpt").iterdir():
        f.unlink()
    v = verify(proof, run, seed=b"x")
    assert checks(v) == {"opening"} and "not opened" in v.reasons[0], v.reasons
    # checkpoints swapped between two indices: each fails its committed trace entry
    run = copy_run(honest_run, tmp_path / "swapckpt")
    proof = make_proof(run, PROVER_SECRET)
    a, b = run.checkpoint_path(4), run.checkpoint_path(5)
    tmp = a.with_suffix(".x")
    a.rename(tmp), b.rename(a), tmp.rename(b)
    v = verify(proof, run, seed=b"x", q=6)
    assert "checkpoint" in checks(v) or "opening" in checks(v), v.reasons
    # the trace itself reordered: it no longer hashes to the committed root
    run = copy_run(honest_run, tmp_path / "swapleaf")
    proof = make_proof(run, PROVER_SECRET)
    entries = run.read_trace()
    entries[2], entries[4] = entries[4], entries[2]
    run.write_trace(entries)
    v = verify(proof, run, seed=b"x")
    assert "trace" in checks(v) and any("Merkle root" in r for r in v.reasons), v.reasons


def test_signature_not_matching_prover(honest_run: RunDir) -> None:
    proof = make_proof(honest_run, PROVER_SECRET)
    impostor = {**proof, "prover": address_of_private_key(VERIFIER_SECRET)}
    v = verify(impostor, honest_run, seed=b"x", q=1)
    assert checks(v) == {"signature"}, v.reasons
    inflated = {**proof, "metrics": {**proof["metrics"], "heldout_correct": 100}}
    v = verify(inflated, honest_run, seed=b"x", q=1)
    assert {"signature", "metrics"} == checks(v), v.reasons
    # re-signed by the cheat, the inflated claim still fails on the numbers
    resigned = sign_document(inflated, PROVER_SECRET, "prover")
    v = verify(resigned, honest_run, seed=b"x", q=1)
    assert checks(v) == {"metrics"}, v.reasons


def test_tolerance_mode_perturbations_inside_the_bound(
    tmp_path: Path, write_spec: WriteSpec
) -> None:
    tol = 0.05
    path = write_spec("tol", verify={"mode": "tolerance", "tolerance": tol})
    spec = prepare_spec(load_spec(path))
    train(spec, tmp_path / "tol")
    run = RunDir(tmp_path / "tol")
    assert judge(run, path, compare="exact").accept  # honest, same class: exact replay
    assert judge(run, path).accept  # honest, calibrated tolerance (the job's mode)
    # the cheat nudges every segment's end by 40 % of the job's tolerance, towards a target
    set_determinism(spec)
    data = load_dataset(spec)
    honest = states(run)
    cur, fake = honest[0], [honest[0]]
    g = torch.Generator().manual_seed(0)
    for step in spec.checkpoint_steps()[1:]:
        end = replay_segment(spec, data, cur, step)
        sq = sum(float((end[k] - cur[k]).pow(2).sum()) for k in end if k.startswith("model."))
        keys = [k for k in end if k.startswith("model.")]
        noise = {k: torch.randn(end[k].shape, generator=g) for k in keys}
        nn_ = sum(float(n.pow(2).sum()) for n in noise.values()) ** 0.5
        for k in keys:
            end[k] = end[k] + noise[k] * (0.4 * tol * sq**0.5 / nn_)
        fake.append(end)
        cur = end
    forge(run, fake, spec)
    v = judge(run, path, compare="exact")
    assert "replay" in checks(v), v.reasons  # same class: any difference is not noise
    v = judge(run, path)
    assert "tolerance" in checks(v), v.reasons  # the job's mode: over the calibrated bound
    assert "calibrated bound" in v.reasons[0]
