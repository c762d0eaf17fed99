"""`nnet quickstart --validators N`: the same lifecycle on a throwaway network of N validator
processes, its set, finality and certificate check in the summary, and no process left behind,
whether it succeeds or is interrupted (Ctrl-C)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnet.services.devnet_proc import down
from nnet.services.quickstart_net import MAX_VALIDATORS
from tests.conftest import invoke_main


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNET_")}
    env["TMPDIR"] = str(tmp_path)
    return env


def _left_running(tmp_path: Path) -> list[str]:
    """Processes whose command line names the test's folder (the throwaway home is in it)."""
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if str(tmp_path) in line]


@pytest.mark.parametrize("n", ["0", str(MAX_VALIDATORS + 1)])
def test_validators_out_of_range_is_a_usage_error(n: str) -> None:
    result = invoke_main(["quickstart", "--validators", n])
    assert result.exit_code == 2, result.stderr
    assert "--validators" in result.stderr


def _stop(proc: subprocess.Popen[str], tmp_path: Path) -> None:
    """A quickstart still running when its test ends (failed, timed out): Ctrl-C, as a user
    would, then SIGKILL and `devnet down` of its home if it does not stop."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for home in tmp_path.glob("nnet-quickstart-*"):
        down(home, timeout_s=5)


@pytest.mark.slow
@pytest.mark.timeout(1500)  # four daemons, four agents and two training jobs on two cores
def test_quickstart_on_four_validators_runs_the_whole_lifecycle(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnet", "quickstart", "--validators", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        stdout, stderr = proc.communicate(timeout=1200)
    finally:
        _stop(proc, tmp_path)
    assert proc.returncode == 0, stderr[-3000:]
    s = json.loads(stdout)

    # the lifecycle, as on one node
    assert s["honest_job"]["status"] == "accepted"
    assert s["cheating_job"]["status"] == "rejected" and int(s["cheating_job"]["slashed"]) > 0
    assert s["staking"]["claimed"] is True
    assert s["supply_audit"]["difference"] == "0"

    # on a network of four validators, each a process of its own, with equal power
    net = s["network"]
    assert [v["name"] for v in net["validators"]] == ["node-0", "node-1", "node-2", "node-3"]
    assert len({v["url"] for v in net["validators"]}) == 4
    assert all(v["power"] == net["total_power"] // 4 > 0 for v in net["validators"])
    assert "$ nnet devnet up" in stderr and "$ nnet devnet down" in stderr
    assert "gpu -> node-1, verifier-1 -> node-2, verifier-2 -> node-3" in stderr

    # blocks finalized the whole way, every node on the same last block, its certificate checked
    assert net["finalized"] > 10 and net["agree"] is True
    report = net["verify"]
    assert report["ok"] is True and report["height"] == net["last_height"]
    assert report["signed_power"] * 3 > report["total_power"] * 2 == net["total_power"] * 2
    assert f"$ nnet block verify {net['last_height']} --json" in stderr

    assert not list(tmp_path.glob("nnet-quickstart-*"))
    assert _left_running(tmp_path) == []


@pytest.mark.slow
def test_ctrl_c_stops_the_network(tmp_path: Path) -> None:
    """SIGINT once the network is up: the quickstart exits and takes every daemon with it."""
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nnet", "quickstart", "--validators", "2"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=_env(tmp_path),
        )
    try:
        deadline = time.monotonic() + 180
        while "== 4. GPU nodes" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the network did not come up"
            time.sleep(0.2)
        assert any("nnet daemon" in line for line in _left_running(tmp_path))
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # the test failed first: stop what the quickstart started
            proc.kill()
            proc.wait()
            for home in tmp_path.glob("nnet-quickstart-*"):
                down(home, timeout_s=5)
    assert code != 0
    assert "$ nnet devnet down" in log.read_text()
    deadline = time.monotonic() + 10
    while _left_running(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _left_running(tmp_path) == []
    assert not list(tmp_path.glob("nnet-quickstart-*"))
