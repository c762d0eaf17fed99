"""The marketplace worked by agents alone: a devnet (real daemon), one worker agent and two verifier
agents as real `nnet node run` processes, keys funded and nodes registered by the harness. The
researcher submits a job, the only command typed; the agents follow the chain's event feed and do
the rest: claim, train, prove, seed, open, replay, attest.

- The whole marketplace: the worker agent runs on a hot operator key (the node registered by its
  cold owner with `--operator`). The job settles accepted, the owner and both verifiers are paid
  (the operator only pays its transactions' fees), the researcher downloads the model with
  `nnet job result` (its weights hash to the proof's `final`), the supply audit balances, and
  `nnet node status` tells the worker's story from its agent.db.
- A kill -9 of the worker mid-training: restarted on the same agent.db, it resumes the run (not
  from step 0), signs one claim and one proof only, and the job still settles accepted.
- A cheating worker: the same agent, run through a wrapper whose trainer forges the run after
  training (proof/forgery.py, as a skipping prover would); the verifier agents reject it, the job
  settles rejected and the worker's collateral is slashed.

Agents log JSON lines to a file each (a pipe left unread could fill and stall an agent).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from nnet.services.agent_store import AgentStore
from nnet.services.quickstart import CHEATING_AGENT
from tests.commands.devnet_harness import Devnet, start_devnet, stop_devnet
from tests.proof.conftest import TINY, make_tiny_data

pytestmark = pytest.mark.slow

OWNER, WORKER, VERIFIERS, RESEARCHER = "gpu-owner", "gpu", ("verifier-1", "verifier-2"), "res"
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
# long enough (seconds on a loaded machine) to be killed in the middle; 60 checkpoints
LONG_JOB = {
    **TINY,
    "job": {"seed": 7, "steps": 6000, "batch_size": 32},
    "checkpoint": {"every": 100, "keep_every": 1},
}

# The cheating worker: the quickstart's (services/quickstart.py): the product's agent, its trainer
# swapped by a wrapper (never a switch in the product) for one that forges the run after training.
CHEAT = CHEATING_AGENT


class Agents:
    """The agents of one test: real processes, each logging JSON lines to NAME.log."""

    def __init__(self, dn: Devnet, tmp: Path) -> None:
        self.dn, self.tmp = dn, tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *flags: str, cheat: bool = False) -> subprocess.Popen[bytes]:
        run = [
            "node", "run", "--state", str(self.state(name)), "--workdir", str(self.workdir(name)),
            "--log-json", "--claim-every", "20", *flags,
        ]  # fmt: skip
        argv = [sys.executable, *(["-c", CHEAT] if cheat else ["-m", "nnet"]), *run]
        with self.log(name).open("ab") as log:  # appended to across restarts
            proc = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=log, env=self.dn.tour._env(name)
            )
        self.procs[name] = proc
        return proc

    def state(self, name: str) -> Path:
        return self.tmp / f"{name}.db"

    def workdir(self, name: str) -> Path:
        return self.tmp / name

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def events(self, name: str) -> list[dict[str, Any]]:
        text = self.log(name).read_text(errors="replace") if self.log(name).exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def tail(self, name: str) -> str:
        return self.log(name).read_text(errors="replace")[-3000:]

    def kill9(self, name: str) -> None:
        proc = self.procs.pop(name)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        self.procs.clear()


def register(dn: Devnet, key: str, *how: str) -> None:
    receipt = dn.cli(
        "node", "register", "--gpu", "cpu", "--device", "cpu", "--collateral", "1000", *how,
        "--send", "--wait", key=key,
    ).one()  # fmt: skip
    assert receipt["status"] == "committed", receipt


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    """A devnet with the two verifier nodes registered (each test registers its worker)."""
    with (tmp_path / "narration.log").open("w") as log:
        dn = start_devnet(
            tmp_path / "home",
            (RESEARCHER, OWNER, WORKER, *VERIFIERS),
            fund_nnet=10_000,
            epoch_blocks=10,
            block_time=0.1,
            params=PARAMS,
            narrate=log,
        )
        try:
            for name in VERIFIERS:
                register(dn, name)
            yield dn
        finally:
            stop_devnet(dn)


@pytest.fixture
def agents(devnet: Devnet, tmp_path: Path) -> Iterator[Agents]:
    """The two verifier agents running (verifiers only: they must not race for the claim)."""
    team = Agents(devnet, tmp_path)
    try:
        for name in VERIFIERS:
            team.start(name, "--no-worker")
        yield team
    finally:
        team.stop()


def write_job(tmp: Path, doc: dict[str, Any]) -> Path:
    make_tiny_data(tmp / "tiny.safetensors")
    spec = tmp / "job.toml"
    spec.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return spec


def chain_events(dn: Devnet, job: int) -> list[dict[str, Any]]:
    """Every event the chain has for `job`, read through GET /events up to its head."""
    done = False

    def on_page(cursor: str, head: int) -> None:
        nonlocal done
        done = cursor == str(head + 1)

    feed = dn.http.events(1, wait_s=0, on_page=on_page, until=lambda: done)
    return [e for e in feed if e.get("job") == job]


def committed_fees(dn: Devnet, store: Path, address: str) -> tuple[int, int]:
    """(transactions, fees) of the agent's signed transactions that the chain committed."""
    db = AgentStore(store, address)
    try:
        actions = db.actions()
    finally:
        db.close()
    count = fees = 0
    for action in actions:
        if dn.http.receipt(action.tx_hash)["status"] == "committed":
            count, fees = count + 1, fees + int(action.tx["fee"])
    return count, fees


@pytest.mark.timeout(600)
def test_a_job_settles_with_agents_alone(devnet: Devnet, agents: Agents, tmp_path: Path) -> None:
    dn = devnet
    register(dn, OWNER, "--operator", WORKER)  # the cold key registers; the hot key works
    assert dn.node(WORKER)["address"] == dn.addr[OWNER]
    spec = write_job(tmp_path, JOB)
    agents.start(WORKER)
    before = {name: dn.balance(name) for name in (OWNER, WORKER, *VERIFIERS)}
    try:
        job_id = dn.submit(spec, RESEARCHER, fee="10", verifiers=2)  # the one typed step
        view = dn.settled(job_id, timeout_s=240)
    finally:
        agents.stop()
    assert view["status"] == "accepted", (view["settlement"], agents.tail(WORKER))
    settlement = view["settlement"]
    assert view["assignee"] == dn.addr[OWNER]  # the node is its owner's address
    assert view["proof"]["prover"] == dn.addr[WORKER]  # signed (and the run bound) by the hot key
    assert sorted(settlement["to_verifiers"]) == sorted(dn.addr[v] for v in VERIFIERS)
    for name in VERIFIERS:
        assert int(settlement["to_verifiers"][dn.addr[name]]) > 0

    # the owner, which signed nothing since, is paid the node's share (and any reward claimed
    # for it); the operator paid its transactions' fees and received nothing
    assert dn.balance(OWNER) >= before[OWNER] + int(settlement["to_node"]) > before[OWNER]
    sent, fees = committed_fees(dn, agents.state(WORKER), dn.addr[WORKER])
    assert dn.http.next_nonce(dn.addr[WORKER]) == sent  # every tx of the hot key is the agent's
    assert dn.balance(WORKER) == before[WORKER] - fees and fees > 0
    assert dn.supply()["difference"] == "0"

    # the researcher downloads the model it paid for; its weights are the proof's final
    from nnet.proof.checkpoint import compute_tensors_hash, read_checkpoint

    out = tmp_path / "result"
    dn.proc("job", "result", str(job_id), "-o", str(out), key=RESEARCHER)
    weights = read_checkpoint(out / "model.safetensors")
    assert "0x" + compute_tensors_hash(weights).hex() == view["proof"]["final"]
    assert json.loads((out / "metrics.json").read_text()) == view["proof"]["metrics"]

    # every step was an agent's, logged as one JSON line per action
    kinds = {e.get("event") for e in agents.events(WORKER)}
    assert {"signed", "train", "trained", "open", "settled", "deadline"} <= kinds, kinds
    deadlines = [
        (e["job"], e["stage"], e["deadline_height"])
        for e in agents.events(WORKER)
        if e.get("event") == "deadline"
    ]
    assert len(deadlines) == len(set(deadlines)), deadlines  # said once, not every block
    for name in VERIFIERS:
        assert {"seed", "verdict", "settled"} <= {e.get("event") for e in agents.events(name)}

    # node status reads the worker's agent.db and the node it operates
    status = dn.cli(
        "node", "status", "--state", str(agents.state(WORKER)), "--json", key=WORKER
    ).one()
    [row] = status["jobs"]
    assert row["job"] == job_id and row["outcome"] == "accepted"
    assert row["earned"] == settlement["to_node"] and status["earned"] == row["earned"]
    assert sorted(row["signed"]) == ["claim", "open", "proof"]
    assert status["reputation"] > 0


@pytest.mark.timeout(600)
@pytest.mark.parametrize("finished", [False, True], ids=["mid-training", "trained-not-proved"])
def test_a_worker_killed_mid_training_resumes_and_meets_its_deadline(
    devnet: Devnet, agents: Agents, tmp_path: Path, finished: bool
) -> None:
    """Killed with the run half done, the restarted agent resumes it. `finished`: the kill came
    after the trainer's last write but before the agent noted the run done (agent.db still says
    training); the restart proves that run as it is, without training it again."""
    from nnet.proof.rundir import RunDir

    dn = devnet
    register(dn, WORKER)
    collateral = int(dn.node(WORKER)["collateral"])
    spec = write_job(tmp_path, LONG_JOB)
    agents.start(WORKER)
    job_id = dn.submit(spec, RESEARCHER, fee="10", verifiers=2)
    folder = agents.workdir(WORKER) / f"job-{job_id}"
    run = RunDir(folder / "run")

    def training() -> bool:  # a few checkpoints in, well before the last
        started = any(e.get("event") == "train" for e in agents.events(WORKER))
        return started and run.checkpoint_path(3).exists()

    dn.wait_for("the worker agent to be training", training, timeout_s=120)
    agents.kill9(WORKER)
    assert not run.read_manifest()["complete"], "training ended before the kill: lengthen LONG_JOB"
    killed_at = len(run.read_trace())
    kept = run.checkpoint_path(2).stat().st_mtime_ns  # a resumed run leaves it be
    assert killed_at > 3 and dn.job(job_id)["status"] == "claimed"
    if finished:  # the run's last writes, as the killed agent's trainer would have made them
        dn.proc("train", str(folder / "job" / "job.toml"), "-o", str(run.root), "--resume")
        assert run.read_manifest()["complete"]

    agents.start(WORKER)  # the same agent.db and workdir
    try:
        view = dn.settled(job_id, timeout_s=240)
    finally:
        agents.stop()
    assert view["status"] == "accepted", (view["settlement"], agents.tail(WORKER))
    assert int(dn.node(WORKER)["collateral"]) == collateral  # nothing slashed, no deadline missed

    # it went on with the run it was killed in, never from step 0
    trains = [e for e in agents.events(WORKER) if e.get("event") == "train"]
    assert [e["resume"] for e in trains] == ([False] if finished else [False, True]), trains
    assert finished or "resuming" in trains[-1]["msg"]
    assert run.checkpoint_path(2).stat().st_mtime_ns == kept
    assert not any(e.get("event") == "train_failed" for e in agents.events(WORKER))

    # one claim, one proof, one opening: in agent.db and on the chain
    db = AgentStore(agents.state(WORKER), dn.addr[WORKER])
    try:
        kinds = sorted(a.kind for a in db.actions(job_id))
    finally:
        db.close()
    assert kinds == ["claim", "open", "proof"], kinds
    on_chain = [e["type"] for e in chain_events(dn, job_id)]
    assert on_chain.count("job.claimed") == 1 and on_chain.count("proof.submitted") == 1
    assert on_chain.count("proof.opened") == 1, on_chain


@pytest.mark.timeout(600)
def test_a_cheating_worker_is_caught_and_slashed_by_the_agents(
    devnet: Devnet, agents: Agents, tmp_path: Path
) -> None:
    dn = devnet
    register(dn, WORKER)
    collateral = int(dn.node(WORKER)["collateral"])
    reputation = int(dn.node(WORKER)["reputation"])
    spec = write_job(tmp_path, JOB)
    agents.start(WORKER, cheat=True)
    try:
        job_id = dn.submit(spec, RESEARCHER, fee="10", verifiers=2)
        view = dn.settled(job_id, timeout_s=240)
    finally:
        agents.stop()
    settlement = view["settlement"]
    assert view["status"] == "rejected", (settlement, agents.tail(WORKER))
    assert view["assignee"] == dn.addr[WORKER]
    # the cheat went all the way: the agent proved and opened its forged run
    kinds = {e.get("event") for e in agents.events(WORKER)}
    assert {"trained", "open"} <= kinds, agents.tail(WORKER)

    # both verifier agents replayed the openings and said reject
    for name in VERIFIERS:
        verdicts = [e["verdict"] for e in agents.events(name) if e.get("event") == "verdict"]
        assert verdicts == ["reject"], agents.tail(name)

    # slashed: the job's collateral cut leaves the node; the catchers share it
    slashed = int(settlement["slashed"])
    assert slashed > 0
    assert int(dn.node(WORKER)["collateral"]) == collateral - slashed
    assert int(dn.node(WORKER)["reputation"]) < reputation
    assert sorted(settlement["to_verifiers"]) == sorted(dn.addr[v] for v in VERIFIERS)
    assert dn.supply()["difference"] == "0"
