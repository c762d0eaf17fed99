"""The whole marketplace with no hand-typed step: a devnet (real daemon), one worker agent and two
verifier agents as real `nnet node run` processes, keys funded and nodes registered by the
harness. The researcher submits a job, the only command typed; the agents follow the chain's
event feed and do the rest: claim, train, prove, seed, open, replay, attest. The job settles
accepted, the node and both verifiers are paid, the supply audit balances, and `nnet node status`
tells the worker's story from its agent.db.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from tests.commands.devnet_harness import Devnet, start_devnet, stop_devnet
from tests.proof.conftest import TINY, make_tiny_data

pytestmark = pytest.mark.slow

WORKER, VERIFIERS, RESEARCHER = "gpu", ("verifier-1", "verifier-2"), "researcher"
PARAMS = (
    "market_proof_epochs=120",
    "market_open_epochs=20",
    "market_attest_epochs=60",
    "market_challenge_q=3",
    "market_min_class_pool=1",  # exact mode: the two verifiers are the class's pool
)
JOB = {
    **TINY,
    "job": {"seed": 7, "steps": 40, "batch_size": 32},
    "checkpoint": {"every": 2, "keep_every": 1},
}


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    with (tmp_path / "narration.log").open("w") as log:
        dn = start_devnet(
            tmp_path / "home",
            (RESEARCHER, WORKER, *VERIFIERS),
            fund_nnet=10_000,
            epoch_blocks=10,
            block_time=0.1,
            params=PARAMS,
            narrate=log,
        )
        try:
            for name in (WORKER, *VERIFIERS):
                receipt = dn.cli(
                    "node", "register", "--gpu", "cpu", "--device", "cpu",
                    "--collateral", "1000", "--send", "--wait", key=name,
                ).one()  # fmt: skip
                assert receipt["status"] == "committed", receipt
            yield dn
        finally:
            stop_devnet(dn)


def _agent(dn: Devnet, name: str, tmp: Path, *flags: str) -> subprocess.Popen[str]:
    return dn.spawn(
        "node", "run", "--state", str(tmp / f"{name}.db"), "--workdir", str(tmp / name),
        "--log-json", "--claim-every", "20", *flags, key=name,
    )  # fmt: skip


def _stop(agents: dict[str, subprocess.Popen[str]]) -> dict[str, str]:
    logs = {}
    for name, proc in agents.items():
        if proc.poll() is None:
            proc.terminate()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=30)
        logs[name] = err
    return logs


@pytest.mark.timeout(600)
def test_a_job_settles_with_agents_alone(devnet: Devnet, tmp_path: Path) -> None:
    dn = devnet
    make_tiny_data(tmp_path / "tiny.safetensors")
    spec = tmp_path / "tiny.toml"
    spec.write_text(tomli_w.dumps(JOB), encoding="utf-8")
    agents = {WORKER: _agent(dn, WORKER, tmp_path)}
    for name in VERIFIERS:  # verifiers only: they must not race the worker for the claim
        agents[name] = _agent(dn, name, tmp_path, "--no-worker")
    before = {name: dn.balance(name) for name in (WORKER, *VERIFIERS)}
    logs: dict[str, str] = {}
    try:
        job_id = dn.submit(spec, RESEARCHER, fee="10", verifiers=2)  # the one typed step
        view = dn.settled(job_id, timeout_s=400)
    finally:
        logs = _stop(agents)
        for name, text in logs.items():
            (tmp_path / f"{name}.log").write_text(text)
    assert view["status"] == "accepted", (view["settlement"], logs[WORKER][-3000:])
    settlement = view["settlement"]
    assert view["assignee"] == dn.addr[WORKER]
    assert sorted(settlement["to_verifiers"]) == sorted(dn.addr[v] for v in VERIFIERS)
    assert int(settlement["to_node"]) > 0
    assert dn.balance(WORKER) > before[WORKER] - 10**18  # paid the fee, less its tx fees
    for name in VERIFIERS:
        assert int(settlement["to_verifiers"][dn.addr[name]]) > 0
    assert dn.supply()["difference"] == "0"

    # every step was an agent's, logged as one JSON line per action
    events = [json.loads(line) for line in logs[WORKER].splitlines() if line.startswith("{")]
    kinds = {e.get("event") for e in events}
    assert {"signed", "train", "trained", "open", "settled", "deadline"} <= kinds, kinds
    for name in VERIFIERS:
        lines = [json.loads(x) for x in logs[name].splitlines() if x.startswith("{")]
        assert {"seed", "verdict", "settled"} <= {e.get("event") for e in lines}

    # node status reads the worker's agent.db and the node
    status = dn.cli(
        "node", "status", "--state", str(tmp_path / f"{WORKER}.db"), "--json", key=WORKER
    ).one()
    [row] = status["jobs"]
    assert row["job"] == job_id and row["outcome"] == "accepted"
    assert row["earned"] == settlement["to_node"] and status["earned"] == row["earned"]
    assert sorted(row["signed"]) == ["claim", "open", "proof"]
    assert status["reputation"] > 0
