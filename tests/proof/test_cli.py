"""`nnet train`, `nnet prove`, `nnet verify` as users run them: in process, and as real pipes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import RunCli

from nnet.keys import KeyStore
from nnet.proof.rundir import RunDir
from nnet.proof.spec import load_spec
from nnet.proof.trace import TraceEntry
from nnet.proof.trainer import train

from .conftest import WriteSpec

REPO = Path(__file__).resolve().parents[2]
MNIST = REPO.parent / "shared" / "data" / "mnist-t10k"


@pytest.fixture
def key(nnet_home: Path, password: str) -> str:
    return KeyStore(nnet_home).create("prover", password, light=True).address


def test_train_prove_verify_in_process(
    run_cli: RunCli, key: str, tiny_spec: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    r = run_cli("train", str(tiny_spec), "-o", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["checkpoints"] == 7 and "heldout_accuracy" in summary
    assert "step 60/60" in r.stderr  # progress goes to stderr, data to stdout
    r = run_cli("prove", str(out))
    assert r.exit_code == 0, r.stderr
    proof = json.loads(r.stdout)
    assert proof["prover"] == key and len(r.stdout) < 1200
    r = run_cli(
        "verify", "-", "--run", str(out), "--spec", str(tiny_spec), "--seed", "ab", input=r.stdout
    )
    assert r.exit_code == 0, r.stderr
    att = json.loads(r.stdout)
    assert att["verdict"] == "accept" and att["verifier"] == key
    assert att["challenge"]["seed"] == "0xab"
    assert "accept" in r.stderr and "held-out accuracy" in r.stderr
    # a tampered proof: exit 1, every reason on stderr and in the signed attestation
    bad = json.dumps(
        {**proof, "dataset": "bafkreide5semuafsnds3ugrvm6fbwuyw2ijpj43gwjdxemstjkfozi37hq"}
    )
    r = run_cli("verify", "-", "--run", str(out), "--spec", str(tiny_spec), "-Q", "1", input=bad)
    assert r.exit_code == 1
    att = json.loads(r.stdout)
    assert att["verdict"] == "reject"
    assert any(x.startswith("signature") for x in att["reasons"])
    assert any(x.startswith("dataset") for x in att["reasons"])
    assert "reject: dataset" in r.stderr


def test_usage_errors(run_cli: RunCli, key: str, write_spec: WriteSpec, tmp_path: Path) -> None:
    bad = write_spec("typo", optimizer={"mometum": 0.9})
    r = run_cli("train", str(bad), "-o", str(tmp_path / "x"))
    assert r.exit_code == 2 and "optimizer.mometum" in r.stderr
    assert not (tmp_path / "x").exists()
    r = run_cli("prove", str(tmp_path / "nowhere"))
    assert r.exit_code == 2 and "not a run directory" in r.stderr
    r = run_cli("verify", "-", input="{}")
    assert r.exit_code == 2 and "--run" in r.stderr
    r = run_cli("verify", "-", "--run", str(tmp_path), input="not json")
    assert r.exit_code == 2
    r = run_cli("verify", "-", "--run", str(tmp_path), input='{"kind": "nnet.proof"}')
    assert r.exit_code == 2 and "job of record" in r.stderr and "--spec" in r.stderr
    r = run_cli(
        "verify", "-", "--run", str(tmp_path), "--spec", str(bad), input='{"kind": "nnet.proof"}'
    )
    assert r.exit_code == 2


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "NNET_HOME": str(home), "NNET_PASSWORD": "correct horse"}


def test_prove_does_not_import_torch(key: str, honest_run: RunDir, nnet_home: Path) -> None:
    code = (
        "import sys; from nnet.cli import main\n"
        "try:\n    main(['prove', sys.argv[1]])\nexcept SystemExit as e:\n    assert not e.code\n"
        "assert 'torch' not in sys.modules, 'prove imported torch'\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(honest_run.root)],
        env=_env(nnet_home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["kind"] == "nnet.proof"


# `nnet ARGS...` with training held at a known step: after step PAUSE_AT the child touches READY
# and sleeps, so the test's Ctrl-C always lands mid-run, at the same step, however fast the machine.
PAUSED_TRAIN = """
import signal, sys, time
from pathlib import Path
from nnet.proof import trainer
from nnet.cli import main

ready, pause_at = Path(sys.argv[1]), int(sys.argv[2])
on_step = trainer._Meter.on_step

def paused(self, step, loss):
    on_step(self, step, loss)
    if step + 1 == pause_at:
        ready.touch()
        time.sleep(60)  # the test's SIGINT ends this sleep with KeyboardInterrupt

trainer._Meter.on_step = paused
signal.signal(signal.SIGINT, signal.default_int_handler)
main(sys.argv[3:])
"""


@pytest.mark.slow  # ~3 s, mostly the child's imports; test_trainer.py interrupts in process
def test_ctrl_c_leaves_a_resumable_run(
    run_cli: RunCli, write_spec: WriteSpec, tmp_path: Path, nnet_home: Path
) -> None:
    # checkpoints at steps 0, 10, ..., 60; the retention tier keeps only the first and the last
    spec = write_spec("long", checkpoint={"every": 10, "keep_every": 10})
    out, ready = tmp_path / "long", tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED_TRAIN, str(ready), "35", "train", str(spec), "-o", str(out)],
        env=_env(nnet_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "training never reached step 35"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert f"nnet train {spec} -o {out} --resume" in err
    run = RunDir(out)
    manifest = run.read_manifest()
    assert not manifest["complete"] and manifest["steps_done"] == 35
    # the interrupt wrote the latest checkpoint (step 30), though the retention tier would not
    assert [e.step for e in run.read_trace()] == [0, 10, 20, 30]
    assert run.checkpoint_path(3).exists()
    assert not run.checkpoint_path(2).exists()
    r = run_cli("train", str(spec), "-o", str(out), "--resume", "-q")
    assert r.exit_code == 0, r.stderr
    train(load_spec(spec), tmp_path / "straight")
    straight = RunDir(tmp_path / "straight")
    assert run.read_trace() == straight.read_trace()
    assert run.read_manifest()["final"] == straight.read_manifest()["final"]


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_dir(), reason=f"MNIST test set not found at {MNIST}")
def test_mnist_example_pipe_accepts_with_real_accuracy(
    key: str, tmp_path: Path, nnet_home: Path
) -> None:
    """The issue's done-when line, as a shell runs it."""
    run = tmp_path / "run"
    example = REPO / "examples" / "mnist.toml"
    line = (
        f"nnet train {example} -o {run} -q && "
        f"nnet prove {run} | nnet verify - --run {run} --spec {example}"
    )
    bindir = str(Path(sys.executable).parent)
    env = {**_env(nnet_home), "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    r = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line], env=env, capture_output=True, text=True, timeout=240
    )
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    attestation = lines[-1]
    assert attestation["verdict"] == "accept"
    accuracy = float(attestation["metrics"]["heldout_accuracy"])
    assert accuracy > 0.9, accuracy  # a real MLP on real digits
    assert attestation["metrics"]["heldout_n"] == 2000
    assert f"held-out accuracy {attestation['metrics']['heldout_accuracy']}" in r.stderr


def test_prove_refuses_a_run_every_verifier_would_reject(
    run_cli: RunCli, key: str, honest_run: RunDir, tmp_path: Path
) -> None:
    """A run whose trace shows a frozen segment or a non-finite loss (training that stalled or
    diverged) is refused before its proof can cost the prover its collateral."""
    import dataclasses
    import shutil

    Change = Callable[[list[TraceEntry]], dict[int, TraceEntry]]
    changes: list[tuple[str, Change]] = [
        ("frozen", lambda es: {3: dataclasses.replace(es[3], weights=es[2].weights)}),
        ("nan", lambda es: {4: dataclasses.replace(es[4], loss="nan")}),
    ]
    for name, change in changes:
        run = RunDir(tmp_path / name)
        shutil.copytree(honest_run.root, run.root)
        entries = run.read_trace()
        for i, entry in change(entries).items():
            entries[i] = entry
        run.write_trace(entries)
        r = run_cli("prove", str(run.root))
        assert r.exit_code == 1, r.stderr
        assert "every verifier would reject" in r.stderr and r.stdout == ""
    assert run_cli("prove", str(honest_run.root)).exit_code == 0
