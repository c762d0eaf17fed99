"""The verifier fed what a cheating prover writes, through the path a cheat uses: `verify_proof`
on a real run directory, and `nnet verify` / `nnet prove` with real files.

Every hostile input ends in a verdict (never an exception: a verifier that crashes signs nothing,
and on chain the cheat is then refunded instead of slashed), that verdict rejects, and its reason
names the check that caught it, so each test fails if that one defence is removed.

The job is the tiny job of tests/proof/conftest.py with 60 steps at k = 2 (30 segments), verified
with Q = every segment where a particular checkpoint has to be challenged.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
import torch

import nnet.proof.verifier as verifier_module
from nnet.crypto import address_of_private_key
from nnet.errors import MalformedInput
from nnet.keys import KeyStore, encrypt_keystore
from nnet.proof.checkpoint import (
    compute_tensors_hash,
    hash_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from nnet.proof.commitment import make_proof
from nnet.proof.document import sign_document, verify_document
from nnet.proof.envclass import parse_env_class
from nnet.proof.forgery import forge_run, read_states
from nnet.proof.replay import compute_distance
from nnet.proof.rundir import RunDir
from nnet.proof.shape import check_proof_shape
from nnet.proof.spec import MAX_CHECKPOINTS, load_spec
from nnet.proof.trace import TraceEntry
from nnet.proof.trainer import prepare_spec, train
from nnet.proof.verifier import Verdict, VerifyOptions, verify_proof

pytestmark = pytest.mark.timeout(120)

# the keys of tests/proof/conftest.py (whose fixtures these tests use), and a thief's
PROVER_SECRET = bytes(range(1, 33))
VERIFIER_SECRET = bytes(range(2, 34))
THIEF_SECRET = bytes(range(3, 35))
PROVER = address_of_private_key(PROVER_SECRET)
THIEF = address_of_private_key(THIEF_SECRET)
VERIFIER = address_of_private_key(VERIFIER_SECRET)

LONG = {"job": {"steps": 60}, "checkpoint": {"every": 2, "keep_every": 1}}
ALL = 30  # segments of the long job: Q = ALL challenges every checkpoint
MID = 13  # a checkpoint in the middle (opened as the end of segment 12 and start of 13)
LAST = 30
TOL = 0.05


# --- runs, shared by the module (tests copy before they tamper) ----------------------------------


@pytest.fixture(scope="module")
def long_spec(write_spec: WriteSpec) -> Path:
    return write_spec("long", **LONG)


@pytest.fixture(scope="module")
def long_run(workdir: Path, long_spec: Path) -> RunDir:
    train(load_spec(long_spec), workdir / "long-run")
    return RunDir(workdir / "long-run")


@pytest.fixture(scope="module")
def long_proof(long_run: RunDir) -> dict[str, Any]:
    return make_proof(long_run, PROVER_SECRET)


@pytest.fixture(scope="module")
def tol_spec(write_spec: WriteSpec) -> Path:
    return write_spec("long-tol", **LONG, verify={"mode": "tolerance", "tolerance": TOL})


@pytest.fixture(scope="module")
def tol_run(workdir: Path, tol_spec: Path) -> RunDir:
    train(load_spec(tol_spec), workdir / "tol-run")
    return RunDir(workdir / "tol-run")


@pytest.fixture(scope="module")
def bound_run(workdir: Path, long_spec: Path) -> RunDir:
    """A run trained for job 5 by PROVER (what `nnet job fetch` + `nnet train` make)."""
    train(load_spec(long_spec).bind("5", PROVER), workdir / "bound-run")
    return RunDir(workdir / "bound-run")


@pytest.fixture
def keys(nnet_home: Path, password: str) -> dict[str, str]:
    """The keystore of the CLI tests: the honest prover, a thief, and the verifier."""
    store = KeyStore(nnet_home)
    secrets = {"prover": PROVER_SECRET, "thief": THIEF_SECRET, "verifier": VERIFIER_SECRET}
    for name, secret in secrets.items():
        store.add(name, encrypt_keystore(secret, password, light=True), password)
    return {name: address_of_private_key(secret) for name, secret in secrets.items()}


# --- helpers -------------------------------------------------------------------------------------

WriteSpec = Callable[..., Path]  # the conftest's write_spec(name, **sections) -> spec path


def copy_run(run: RunDir, dest: Path) -> RunDir:
    shutil.copytree(run.root, dest)
    return RunDir(dest)


def verify(proof: dict[str, Any], run: RunDir, record: Path, **opts: Any) -> Verdict:
    """The verifier's verdict against the job of record, every segment challenged by default."""
    options = VerifyOptions(spec=load_spec(record), **{"seed": b"fixed", "q": ALL, **opts})
    return verify_proof(proof, run, options)


def checks(v: Verdict) -> set[str]:
    return {r.split(":", 1)[0] for r in v.reasons}


def rejected(v: Verdict, check: str, *words: str) -> list[str]:
    """The reasons of `check`; asserts the verdict rejects with one of them holding every word,
    and that nothing reached the verifier's catch-all (a crash turned into a reject)."""
    assert not v.accept
    assert not any(r.startswith("verifier:") for r in v.reasons), v.reasons
    hits = [r for r in v.reasons if r.startswith(check + ": ")]
    assert hits, v.reasons
    assert any(all(w in r for w in words) for r in hits), v.reasons
    return hits


def resign(proof: dict[str, Any], secret: bytes = PROVER_SECRET, **fields: Any) -> dict[str, Any]:
    return sign_document({**proof, **fields}, secret, "prover")


def recommit(run: RunDir, index: int, tensors: dict[str, torch.Tensor]) -> None:
    """Replace checkpoint `index` and commit to it as a cheat would: its trace entry (and for the
    last one the final model and manifest) hash to the new tensors, so the opening's hash check
    passes and only validation or replay can catch it."""
    write_checkpoint(run.checkpoint_path(index), tensors, {})
    entries = run.read_trace()
    h, e = hash_checkpoint(tensors), entries[index]
    entries[index] = TraceEntry(e.i, e.step, h.weights, h.state, e.loss)
    run.write_trace(entries)
    if index == len(entries) - 1:
        weights = {k[6:]: t for k, t in tensors.items() if k.startswith("model.")}
        write_checkpoint(run.model_path, weights, {})
        run.write_manifest(
            {**run.read_manifest(), "final": "0x" + compute_tensors_hash(weights).hex()}
        )
    # the forgery is consistent: the file as written hashes to its committed entry
    back = hash_checkpoint(read_checkpoint(run.checkpoint_path(index)))
    assert (back.weights, back.state) == (entries[index].weights, entries[index].state)


def cli_verify(run_cli: Any, proof: dict[str, Any], run: RunDir, *args: str) -> Any:
    return run_cli(
        "verify",
        "-",
        "--run",
        str(run.root),
        *args,
        "--key",
        "verifier",
        "--seed",
        "ab",
        "-Q",
        str(ALL),
        input=json.dumps(proof),
    )


def signed_reject(r: Any) -> dict[str, Any]:
    """The attestation of a CLI rejection: exit 1, one signed JSON line, no crash."""
    assert r.exit_code == 1, (r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    lines = r.lines()
    assert len(lines) == 1, r.stdout
    att: dict[str, Any] = json.loads(lines[0])
    assert verify_document(att, "nnet.attestation", "verifier") == VERIFIER
    assert att["verdict"] == "reject"
    return att


def usage_error(r: Any, *words: str) -> None:
    """Exit 2 with one clear line naming the problem, and nothing signed."""
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert r.stdout == ""
    for w in words:
        assert w in r.stderr, r.stderr


# --- B. a challenged checkpoint the verifier cannot read: a signed reject, never a crash ---------


def _garbage(path: Path, _tmp: Path) -> None:
    path.write_bytes(random.Random(0).randbytes(1 << 16))


class _Payload:
    """Unpickling this runs os.mkdir(path): evidence that a verifier unpickled prover data."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (self.path,))


def _pickle(path: Path, tmp: Path) -> None:
    torch.save({"model.net.1.weight": torch.ones(3), "x": _Payload(str(tmp / "pwned"))}, path)


def _huge_header(path: Path, _tmp: Path) -> None:
    path.write_bytes(struct.pack("<Q", (1 << 64) - 1) + b"{}")


def _symlink_to_valid_copy(path: Path, tmp: Path) -> None:
    # the very bytes that were committed, but lying outside the run behind a link
    elsewhere = tmp / "elsewhere.safetensors"
    elsewhere.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(elsewhere)


def _symlink_to_dev_zero(path: Path, _tmp: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def _fifo(path: Path, _tmp: Path) -> None:
    path.unlink()
    os.mkfifo(path)  # opened for reading, it would block until a writer came


def _directory(path: Path, _tmp: Path) -> None:
    path.unlink()
    path.mkdir()


def _empty(path: Path, _tmp: Path) -> None:
    path.write_bytes(b"")


FILE_CASES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "garbage": (_garbage, "safetensors header"),
    "pickle": (_pickle, "safetensors header"),
    "huge-header-length": (_huge_header, f"header of {(1 << 64) - 1} bytes"),
    "symlink-to-valid-checkpoint": (_symlink_to_valid_copy, "is a symlink"),
    "symlink-to-dev-zero": (_symlink_to_dev_zero, "is a symlink"),
    "fifo": (_fifo, "is a FIFO"),
    "directory": (_directory, "is a directory"),
    "empty": (_empty, "too short"),
}


@pytest.mark.timeout(30)  # the FIFO: a verifier that opened it for reading would hang here
@pytest.mark.parametrize("case", list(FILE_CASES))
def test_unreadable_checkpoint_is_a_signed_reject(
    case: str, tmp_path: Path, long_run: RunDir, long_spec: Path, long_proof: dict[str, Any]
) -> None:
    run = copy_run(long_run, tmp_path / "run")
    make, words = FILE_CASES[case]
    make(run.checkpoint_path(MID), tmp_path)
    v = verify(long_proof, run, long_spec)
    rejected(v, "checkpoint", f"checkpoint {MID:06d}.safetensors", words)
    assert not (tmp_path / "pwned").exists()  # the pickle was never unpickled


Change = Callable[[dict[str, torch.Tensor]], None]


def _del(name: str) -> Change:
    def drop(st: dict[str, torch.Tensor]) -> None:
        del st[name]

    return drop


def _set(name: str, make: Callable[[torch.Tensor | None], torch.Tensor]) -> Change:
    def change(st: dict[str, torch.Tensor]) -> None:
        st[name] = make(st.get(name))

    return change


def _poke(value: float) -> Callable[[torch.Tensor | None], torch.Tensor]:
    def poke(t: torch.Tensor | None) -> torch.Tensor:
        assert t is not None
        t = t.clone()
        t.view(-1)[0] = value
        return t

    return poke


CONTENT_CASES: dict[str, tuple[Change, str]] = {
    "missing-tensor": (_del("optim.1.momentum_buffer"), "missing tensors optim.1.momentum_buffer"),
    "extra-tensor": (
        _set("model.backdoor", lambda _t: torch.zeros(3)),
        "unexpected tensors model.backdoor",
    ),
    "wrong-shape": (
        _set("model.net.3.weight", lambda _t: torch.zeros(4, 32)),
        "model.net.3.weight has shape [4, 32], not [3, 32]",
    ),
    "wrong-dtype": (
        _set("model.net.1.weight", lambda t: torch.as_tensor(t).double()),
        "model.net.1.weight is float64, not float32",
    ),
    "nan-in-weights": (
        _set("model.net.1.weight", _poke(float("nan"))),
        "non-finite values in model.net.1.weight",
    ),
    "inf-in-optimizer-state": (
        _set("optim.0.momentum_buffer", _poke(float("inf"))),
        "non-finite values in optim.0.momentum_buffer",
    ),
    "empty-meta-step": (
        _set("meta.step", lambda _t: torch.zeros(0, dtype=torch.int64)),
        "meta.step is empty",
    ),
    "wrong-step": (
        _set("meta.step", lambda _t: torch.tensor([2 * MID + 2])),
        f"meta.step is {2 * MID + 2}, expected {2 * MID}",
    ),
}


@pytest.mark.parametrize("case", list(CONTENT_CASES))
def test_recommitted_checkpoint_unlike_the_job_is_a_signed_reject(
    case: str, tmp_path: Path, long_run: RunDir, long_spec: Path
) -> None:
    """The prover rewrites its trace so the hashes match: only validation can catch these."""
    run = copy_run(long_run, tmp_path / "run")
    st = read_checkpoint(run.checkpoint_path(MID))
    change, words = CONTENT_CASES[case]
    change(st)
    recommit(run, MID, st)
    v = verify(make_proof(run, PROVER_SECRET), run, long_spec)
    rejected(v, "checkpoint", f"checkpoint {MID}: {words}")
    assert "opening" not in checks(v)  # the opening matched its commitment


@pytest.mark.parametrize("case", ["garbage", "pickle", "nan-in-weights"])
def test_cli_signs_the_reject_of_an_unreadable_checkpoint(
    case: str,
    run_cli: Any,
    keys: dict[str, str],
    tmp_path: Path,
    long_run: RunDir,
    long_spec: Path,
    long_proof: dict[str, Any],
) -> None:
    run = copy_run(long_run, tmp_path / "run")
    proof = long_proof
    if case in FILE_CASES:
        FILE_CASES[case][0](run.checkpoint_path(MID), tmp_path)
        want = FILE_CASES[case][1]
    else:
        st = read_checkpoint(run.checkpoint_path(MID))
        CONTENT_CASES[case][0](st)
        recommit(run, MID, st)
        proof, want = make_proof(run, PROVER_SECRET), CONTENT_CASES[case][1]
    r = cli_verify(run_cli, proof, run, "--spec", str(long_spec))
    att = signed_reject(r)
    assert any(x.startswith("checkpoint: ") and want in x for x in att["reasons"]), att
    assert "reject: checkpoint" in r.stderr
    assert not (tmp_path / "pwned").exists()


# --- B. the trace file ---------------------------------------------------------------------------


def _trace_garbage(run: RunDir, _tmp: Path) -> None:
    run.trace_path.write_bytes(random.Random(1).randbytes(4000))


def _trace_symlink(run: RunDir, tmp: Path) -> None:
    elsewhere = tmp / "trace.jsonl"
    elsewhere.write_bytes(run.trace_path.read_bytes())  # the committed bytes, behind a link
    run.trace_path.unlink()
    run.trace_path.symlink_to(elsewhere)


def _trace_dev_zero(run: RunDir, _tmp: Path) -> None:
    run.trace_path.unlink()
    run.trace_path.symlink_to("/dev/zero")


def _trace_fifo(run: RunDir, _tmp: Path) -> None:
    run.trace_path.unlink()
    os.mkfifo(run.trace_path)


def _trace_10mb(run: RunDir, _tmp: Path) -> None:
    run.trace_path.write_bytes(b"x" * (10 << 20))


def _trace_extra_keys(run: RunDir, _tmp: Path) -> None:
    lines = run.trace_path.read_bytes().splitlines()
    entry = json.loads(lines[MID])
    lines[MID] = json.dumps({**entry, "note": "trust me"}).encode()
    run.trace_path.write_bytes(b"\n".join(lines) + b"\n")


def _trace_reordered(run: RunDir, _tmp: Path) -> None:
    entries = run.read_trace()
    entries[2], entries[4] = entries[4], entries[2]
    run.write_trace(entries)


TRACE_CASES: dict[str, tuple[Callable[[RunDir, Path], None], str]] = {
    "garbage": (_trace_garbage, "cannot be read"),
    "symlink": (_trace_symlink, "not a regular file"),
    "symlink-to-dev-zero": (_trace_dev_zero, "not a regular file"),
    "fifo": (_trace_fifo, "not a regular file"),
    "10-mb-of-junk": (_trace_10mb, f"{10 << 20} bytes is too long for 31 checkpoints"),
    "entry-with-extra-keys": (_trace_extra_keys, "exactly the keys"),
    "reordered": (_trace_reordered, "does not hash to the committed Merkle root"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", list(TRACE_CASES))
def test_hostile_trace_is_a_signed_reject(
    case: str, tmp_path: Path, long_run: RunDir, long_spec: Path, long_proof: dict[str, Any]
) -> None:
    run = copy_run(long_run, tmp_path / "run")
    make, words = TRACE_CASES[case]
    make(run, tmp_path)
    v = verify(long_proof, run, long_spec)
    rejected(v, "trace", words)


# --- K. a challenged checkpoint left out of the run ----------------------------------------------


@pytest.mark.parametrize(("index", "q"), [(MID, ALL), (LAST, 1)])
def test_missing_checkpoint_is_not_opened_and_never_regenerated(
    index: int,
    q: int,
    tmp_path: Path,
    long_run: RunDir,
    long_spec: Path,
    long_proof: dict[str, Any],
) -> None:
    run = copy_run(long_run, tmp_path / "run")
    run.checkpoint_path(index).unlink()
    v = verify(long_proof, run, long_spec, q=q)
    hits = rejected(v, "opening", f"checkpoint {index} was challenged but not opened")
    assert len(hits) == 1 and checks(v) == {"opening"}, v.reasons
    assert not run.checkpoint_path(index).exists()
    # the segments that need it were not replayed (the last one is always challenged)
    skipped = 2 if index == MID else 1
    assert v.replayed_steps == 2 * (len(v.challenge["segments"]) - skipped), v


# --- E. tolerance mode: NaN-safe, and the proof never picks the comparison -----------------------


@pytest.mark.parametrize("name", ["model.net.3.weight", "optim.3.momentum_buffer"])
def test_tolerance_job_rejects_a_nan_end_checkpoint(
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tol_run: RunDir,
    tol_spec: Path,
) -> None:
    run = copy_run(tol_run, tmp_path / "run")
    st = read_checkpoint(run.checkpoint_path(LAST))
    st[name] = _poke(float("nan"))(st[name])
    recommit(run, LAST, st)
    proof = make_proof(run, PROVER_SECRET)
    v = verify(proof, run, tol_spec, q=1)
    assert v.comparison == "tolerance"
    rejected(v, "checkpoint", f"non-finite values in {name}")
    # with the validation gone, the comparison itself must be NaN-safe: NaN is over every bound
    monkeypatch.setattr(verifier_module, "check_checkpoint", lambda *_a, **_k: None)
    v = verify(proof, run, tol_spec, q=1)
    rejected(v, "tolerance", f"segment {LAST - 1}", "ends nan")


def _other_env(env: str) -> str:
    parts = env.split("/")
    parts[-1] = "t2" if parts[-1] != "t2" else "t3"  # another thread count: another class
    other = "/".join(parts)
    parse_env_class(other)
    return other


def test_proof_mode_and_env_do_not_choose_the_comparison(
    tol_run: RunDir, tol_spec: Path, long_run: RunDir, long_spec: Path
) -> None:
    # a tolerance job: a proof claiming exact is refused, and compared with the tolerance anyway
    proof = make_proof(tol_run, PROVER_SECRET)
    assert proof["mode"] == "tolerance"
    v = verify(resign(proof, mode="exact"), tol_run, tol_spec, q=1)
    assert v.comparison == "tolerance"
    assert checks(v) == {"mode"}, v.reasons
    rejected(v, "mode", "the proof says exact, the job is tolerance")
    # another env on a tolerance job: handled by the job's own mode (cross-class is allowed)
    v = verify(resign(proof, env=_other_env(proof["env"])), tol_run, tol_spec, q=1)
    assert v.comparison == "tolerance" and v.accept, v.reasons
    # an exact job: a proof claiming tolerance is refused and still compared bit for bit
    proof = make_proof(long_run, PROVER_SECRET)
    v = verify(resign(proof, mode="tolerance"), long_run, long_spec, q=1)
    assert v.comparison == "exact"
    rejected(v, "mode", "the proof says tolerance, the job is exact")
    # and a claimed class other than the verifier's cannot be replayed bit for bit
    v = verify(resign(proof, env=_other_env(proof["env"])), long_run, long_spec, q=1)
    rejected(v, "environment", "cannot be replayed bit for bit")


def _nudge(start: dict[str, torch.Tensor], end: dict[str, torch.Tensor], rel: float) -> None:
    """Move `end`'s weights by `rel` times the segment's own update, in a random direction."""
    keys = [k for k in end if k.startswith("model.")]
    update = sum(float((end[k] - start[k]).pow(2).sum()) for k in keys) ** 0.5
    g = torch.Generator().manual_seed(0)
    noise = {k: torch.randn(end[k].shape, generator=g) for k in keys}
    norm = sum(float(n.pow(2).sum()) for n in noise.values()) ** 0.5
    for k in keys:
        end[k] = end[k] + noise[k] * (rel * update / norm)


def test_tolerance_job_compares_with_the_calibrated_bound_whatever_the_proof_says(
    tmp_path: Path, tol_run: RunDir, tol_spec: Path
) -> None:
    run = copy_run(tol_run, tmp_path / "run")
    start = read_checkpoint(run.checkpoint_path(LAST - 1))
    honest = read_checkpoint(run.checkpoint_path(LAST))
    fake = {k: t.clone() for k, t in honest.items()}
    _nudge(start, fake, 0.4 * TOL)
    dist, _ = compute_distance(fake, honest, start)
    assert 0 < dist < TOL  # inside the job's tolerance: only the calibration catches it
    recommit(run, LAST, fake)
    proof = make_proof(run, PROVER_SECRET)
    for claim in (proof, resign(proof, mode="exact", env=_other_env(proof["env"]))):
        v = verify(claim, run, tol_spec, q=1)
        assert v.comparison == "tolerance"
        rejected(v, "tolerance", f"segment {LAST - 1}", "calibrated bound")
        assert "replay" not in checks(v)


def test_exact_job_claiming_tolerance_gets_no_slack(
    tmp_path: Path, long_run: RunDir, long_spec: Path
) -> None:
    run = copy_run(long_run, tmp_path / "run")
    start = read_checkpoint(run.checkpoint_path(LAST - 1))
    fake = read_checkpoint(run.checkpoint_path(LAST))
    _nudge(start, fake, 1e-6)  # far inside any tolerance a proof could ask for
    recommit(run, LAST, fake)
    v = verify(resign(make_proof(run, PROVER_SECRET), mode="tolerance"), run, long_spec, q=1)
    assert v.comparison == "exact"
    assert checks(v) == {"mode", "replay"}, v.reasons
    rejected(v, "replay", f"segment {LAST - 1}", f"does not reproduce checkpoint {LAST}")


# --- F. a stolen run: bound to (job, prover) -----------------------------------------------------


def test_stolen_or_reused_run_is_rejected(bound_run: RunDir, long_spec: Path) -> None:
    assert bound_run.read_manifest()["binding"] == {"job": "5", "prover": PROVER}
    honest = make_proof(bound_run, PROVER_SECRET, job="5")
    assert verify(honest, bound_run, long_spec, job="5").accept
    # the thief re-signs the run as its own proof for job 5: a valid signature, the wrong init
    stolen = make_proof(bound_run, THIEF_SECRET, job="5")
    assert stolen["prover"] == THIEF
    v = verify(stolen, bound_run, long_spec, job="5")
    assert checks(v) == {"init", "replay"}, v.reasons
    rejected(v, "init", "not the one derived from the job's seed for this job and prover")
    # the prover presents the same run for job 6
    reused = make_proof(bound_run, PROVER_SECRET, job="6")
    v = verify(reused, bound_run, long_spec, job="6")
    assert checks(v) == {"init", "replay"}, v.reasons
    # or for no job at all (the unbound seed)
    v = verify(make_proof(bound_run, PROVER_SECRET), bound_run, long_spec)
    assert checks(v) == {"init", "replay"}, v.reasons


def test_cli_refuses_to_prove_a_run_for_another_job_or_prover(
    run_cli: Any, keys: dict[str, str], bound_run: RunDir
) -> None:
    root = str(bound_run.root)
    r = run_cli("prove", root, "--job", "5", "--key", "prover")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["job"] == "5"
    for args in (["--job", "6", "--key", "prover"], ["--job", "5", "--key", "thief"]):
        r = run_cli("prove", root, *args)
        usage_error(r, f"trained for job 5 by {PROVER}", "not for job")
    r = run_cli("prove", root, "--key", "thief")  # no --job: the run's own job, another key
    usage_error(r, f"trained for job 5 by {PROVER}", THIEF)


# --- G. metrics: every claim recomputed ----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("heldout_accuracy", "0.9900"),
        ("heldout_correct", 99),
        ("heldout_loss", "0.0100"),
        ("heldout_n", 1000),
        ("train_loss", "0.001"),
        ("train_loss", 0),
    ],
)
def test_faked_metric_is_rejected(
    key: str, value: Any, long_run: RunDir, long_spec: Path, long_proof: dict[str, Any]
) -> None:
    assert long_proof["metrics"][key] != value
    fake = resign(long_proof, metrics={**long_proof["metrics"], key: value})
    v = verify(fake, long_run, long_spec, q=1)
    assert checks(v) == {"metrics"}, v.reasons
    rejected(v, "metrics", f"the proof claims {key} = {value!r}")


def test_metrics_missing_a_key_are_rejected(
    long_run: RunDir, long_spec: Path, long_proof: dict[str, Any]
) -> None:
    metrics = {k: v for k, v in long_proof["metrics"].items() if k != "heldout_loss"}
    v = verify(resign(long_proof, metrics=metrics), long_run, long_spec, q=1)
    assert checks(v) == {"metrics"}, v.reasons
    rejected(v, "metrics", "the proof claims", "the job yields")


def test_an_unknown_metric_is_malformed(
    run_cli: Any,
    keys: dict[str, str],
    long_run: RunDir,
    long_spec: Path,
    long_proof: dict[str, Any],
) -> None:
    fake = resign(long_proof, metrics={**long_proof["metrics"], "heldout_f1": "0.99"})
    with pytest.raises(MalformedInput, match=r"proof\.metrics\.heldout_f1 is not a metric"):
        check_proof_shape(fake)
    with pytest.raises(MalformedInput, match="heldout_f1"):
        verify(fake, long_run, long_spec, q=1)
    usage_error(cli_verify(run_cli, fake, long_run, "--spec", str(long_spec)), "heldout_f1")


def test_metrics_claimed_on_a_job_without_holdout(
    tmp_path: Path, write_spec: WriteSpec, long_proof: dict[str, Any]
) -> None:
    spec = write_spec("noholdout", data={"holdout": 0})
    train(load_spec(spec), tmp_path / "run")
    run = RunDir(tmp_path / "run")
    proof = make_proof(run, PROVER_SECRET)
    assert set(proof["metrics"]) == {"train_loss"}
    assert verify(proof, run, spec, q=1).accept
    held = {k: v for k, v in long_proof["metrics"].items() if k.startswith("heldout_")}
    v = verify(resign(proof, metrics={**proof["metrics"], **held}), run, spec, q=1)
    assert checks(v) == {"metrics"}, v.reasons
    rejected(v, "metrics", "the job yields ['train_loss']")


# --- H. the job of record, never the prover's own spec -------------------------------------------


def test_cli_verify_needs_the_job_of_record(
    run_cli: Any, keys: dict[str, str], long_run: RunDir, long_proof: dict[str, Any]
) -> None:
    usage_error(cli_verify(run_cli, long_proof, long_run), "job of record", "--spec")


@pytest.fixture(scope="module")
def lr_run(workdir: Path, write_spec: WriteSpec) -> RunDir:
    """Trained with lr x 1.01; its job.toml says so and its proof commits to it."""
    train(load_spec(write_spec("lr101", **LONG, optimizer={"lr": 0.101})), workdir / "lr-run")
    return RunDir(workdir / "lr-run")


def test_lr_times_1_01_passes_nothing(
    run_cli: Any,
    keys: dict[str, str],
    tmp_path: Path,
    lr_run: RunDir,
    long_run: RunDir,
    long_spec: Path,
    long_proof: dict[str, Any],
) -> None:
    record_hash = prepare_spec(load_spec(long_spec)).spec_hash()
    proof = make_proof(lr_run, PROVER_SECRET)
    assert proof["spec"] != record_hash
    rejected(verify(proof, lr_run, long_spec, q=1), "spec", record_hash)
    att = signed_reject(cli_verify(run_cli, proof, lr_run, "--spec", str(long_spec)))
    assert any(x.startswith("spec: ") for x in att["reasons"]), att
    # --spec-hash takes the run's job.toml only when it hashes to exactly the job's hash
    r = cli_verify(run_cli, proof, lr_run, "--spec-hash", record_hash)
    assert r.exit_code == 1 and "spec: the run's job.toml hashes to" in r.stderr, r.stderr
    r = cli_verify(run_cli, long_proof, long_run, "--spec-hash", record_hash)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["verdict"] == "accept"
    # relabelled to claim the job of record (its job.toml too): replay finds the other lr
    run = copy_run(lr_run, tmp_path / "forged")
    forge_run(run, read_states(run), load_spec(long_spec))
    proof = make_proof(run, PROVER_SECRET)
    assert proof["spec"] == record_hash
    att = signed_reject(cli_verify(run_cli, proof, run, "--spec-hash", record_hash))
    assert {x.split(":")[0] for x in att["reasons"]} == {"replay"}, att


def _write_idx(path: Path, array: np.ndarray) -> None:
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.float32): 0x0D}[array.dtype]
    head = bytes([0, 0, code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(head + array.astype(array.dtype.newbyteorder(">")).tobytes())


@pytest.fixture(scope="module")
def label_files(workdir: Path) -> Path:
    """The tiny data as IDX (images + a labels file) and as npz, each also with shuffled labels."""
    from safetensors.numpy import load_file

    arrays = load_file(str(workdir / "tiny.safetensors"))
    x, y = arrays["x"].astype(np.float32), arrays["y"].astype(np.int64)
    shuffled = np.random.default_rng(0).permutation(y)
    assert (shuffled != y).mean() > 0.3
    _write_idx(workdir / "x.idx", x)
    _write_idx(workdir / "y.idx", y.astype(np.uint8))
    _write_idx(workdir / "y-shuffled.idx", shuffled.astype(np.uint8))
    np.savez(workdir / "tiny.npz", x=x, y=y)
    np.savez(workdir / "tiny-shuffled.npz", x=x, y=shuffled)
    return workdir


@pytest.mark.parametrize(
    ("record", "shuffled", "caught"),
    [
        ({"path": "x.idx", "labels": "y.idx"}, {"labels": "y-shuffled.idx"}, {"labels", "spec"}),
        ({"path": "tiny.npz"}, {"path": "tiny-shuffled.npz"}, {"dataset", "spec"}),
    ],
)
def test_shuffled_labels_are_rejected(
    record: dict[str, str],
    shuffled: dict[str, str],
    caught: set[str],
    tmp_path: Path,
    label_files: Path,
    write_spec: WriteSpec,
) -> None:
    name = Path(record["path"]).suffix[1:]
    job = write_spec(f"labels-{name}", data=record)
    cheat = write_spec(f"labels-{name}-shuffled", data={**record, **shuffled})
    train(load_spec(cheat), tmp_path / "run")
    run = RunDir(tmp_path / "run")
    v = verify(make_proof(run, PROVER_SECRET), run, job, q=1)
    assert checks(v) == caught | {"replay"}, v.reasons
    for check in caught:
        rejected(v, check)
    # relabelled to claim the job's files: replay on the committed labels does not reproduce it
    forge_run(run, read_states(run), load_spec(job))
    v = verify(make_proof(run, PROVER_SECRET), run, job, q=1)
    assert checks(v) == {"replay"}, v.reasons
    # and the honest run of the job of record passes, so the data layer reads these formats
    train(load_spec(job), tmp_path / "honest")
    honest = RunDir(tmp_path / "honest")
    assert verify(make_proof(honest, PROVER_SECRET), honest, job, q=1).accept


# --- I. hostile specs and data -------------------------------------------------------------------


def _edit_run_spec(run: RunDir, **tables: dict[str, Any]) -> None:
    doc = tomllib.loads(run.spec_path.read_text(encoding="utf-8"))
    for table, values in tables.items():
        doc[table].update(values)
    run.spec_path.write_text(tomli_w.dumps(doc), encoding="utf-8")


def _fifo_at(tmp: Path) -> str:
    os.mkfifo(tmp / "data.fifo")
    return str(tmp / "data.fifo")


def _link_to_dev_zero(tmp: Path) -> str:
    (tmp / "data.safetensors").symlink_to("/dev/zero")
    return str(tmp / "data.safetensors")


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("where", "kind"),
    [
        (lambda _tmp: "/dev/zero", "is a character device"),
        (_link_to_dev_zero, "is a character device"),
        (_fifo_at, "is a FIFO"),
    ],
    ids=["dev-zero", "symlink-to-dev-zero", "fifo"],
)
def test_run_spec_pointing_data_at_a_device_does_not_hang(
    where: Callable[[Path], str],
    kind: str,
    run_cli: Any,
    keys: dict[str, str],
    tmp_path: Path,
    long_run: RunDir,
    long_spec: Path,
    long_proof: dict[str, Any],
) -> None:
    """The path is not committed (the CID is), so the prover's job.toml still hashes to the job's
    hash with data.path = /dev/zero: the verifier reads it and must neither hang nor crash."""
    run = copy_run(long_run, tmp_path / "run")
    _edit_run_spec(run, data={"path": where(tmp_path)})
    record_hash = prepare_spec(load_spec(long_spec)).spec_hash()
    assert run.read_spec().spec_hash() == record_hash
    r = cli_verify(run_cli, long_proof, run, "--spec-hash", record_hash)
    usage_error(r, kind)


@pytest.mark.timeout(20)
def test_a_billion_checkpoints_are_refused_at_parse_time(
    run_cli: Any,
    keys: dict[str, str],
    tmp_path: Path,
    write_spec: WriteSpec,
    long_run: RunDir,
    long_spec: Path,
    long_proof: dict[str, Any],
) -> None:
    huge = write_spec("huge", job={"steps": 10**9}, checkpoint={"every": 1, "keep_every": 1})
    with pytest.raises(MalformedInput, match=f"checkpoint.every.*more than {MAX_CHECKPOINTS}"):
        load_spec(huge)
    usage_error(run_cli("train", str(huge), "-o", str(tmp_path / "out")), "checkpoint.every")
    assert not (tmp_path / "out").exists()
    usage_error(cli_verify(run_cli, long_proof, long_run, "--spec", str(huge)), "checkpoint.every")
    # the prover's own job.toml saying so, with --spec-hash: refused the same way
    run = copy_run(long_run, tmp_path / "run")
    _edit_run_spec(run, job={"steps": 10**9}, checkpoint={"every": 1})
    record_hash = prepare_spec(load_spec(long_spec)).spec_hash()
    usage_error(
        cli_verify(run_cli, long_proof, run, "--spec-hash", record_hash), "checkpoint.every"
    )


@pytest.mark.timeout(20)
def test_npz_with_an_object_array_is_refused(
    run_cli: Any,
    keys: dict[str, str],
    tmp_path: Path,
    workdir: Path,
    write_spec: WriteSpec,
    long_run: RunDir,
    long_proof: dict[str, Any],
) -> None:
    marker = tmp_path / "pwned"
    x = np.empty(600, dtype=object)
    x[:] = [_Payload(str(marker)) for _ in range(600)]
    np.savez(workdir / "objects.npz", x=x, y=np.zeros(600, dtype=np.int64))
    spec = write_spec("objects", data={"path": "objects.npz"})
    usage_error(run_cli("train", str(spec), "-o", str(tmp_path / "out")), "pickled objects")
    r = cli_verify(run_cli, long_proof, long_run, "--spec", str(spec))
    usage_error(r, "objects.npz", "array x holds pickled objects")
    assert not marker.exists()


# --- ill-typed identity fields: malformed, never bound into a seed --------------------------------


@pytest.mark.parametrize(
    "over", [{"prover": 123}, {"prover": ["0x"]}, {"prover": "alice"}, {"job": None}, {"job": 5}]
)
def test_ill_typed_prover_or_job_is_malformed(
    long_proof: dict[str, Any], over: dict[str, Any]
) -> None:
    with pytest.raises(MalformedInput, match=r"prover|job"):
        check_proof_shape({**long_proof, "job": "5", **over})
