"""The agent's Prometheus metrics (services/agent_metrics.py), read as Prometheus reads them: over
HTTP from `MetricsServer`, parsed with prometheus_client's own text parser.

- the figures kept in agent.db (jobs by role and stage, signed steps, earnings) and those the
  agent reports (deadlines, training, errors), with per-job series only for unsettled jobs and a
  deadline only until its step is signed; error codes capped; GET /metrics only; loopback Hosts
  only when bound to loopback; a non-loopback --metrics-listen refused without --metrics-public;
- a real `nnet node run --metrics-listen 127.0.0.1:0` process on a real devnet: an operator
  (hot) key claims its node's rewards on a schedule, paid to the owner, and the scrape shows
  the head, the reward claims and no job yet;
- (slow) a worker agent process claims and trains a job: the scrape shows its proof deadline
  and training progress while it trains, then the signed proof and no deadline left.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from prometheus_client.parser import text_string_to_metric_families

from nnet.errors import UsageError
from nnet.services.agent_metrics import (
    MAX_ERROR_CODES,
    AgentMetrics,
    MetricsServer,
    parse_metrics_listen,
)
from nnet.services.agent_store import AgentStore
from tests.chain.helpers import account
from tests.commands.devnet_harness import Devnet, start_devnet, stop_devnet
from tests.conftest import RunCli

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of GET url, by (name, sorted labels)."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def named(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def signed(samples: Samples, kind: str) -> float:
    """nnet_agent_actions_total{kind}: transactions the agent signed for that step."""
    return samples.get(("nnet_agent_actions_total", (("kind", kind),)), 0)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[AgentStore, AgentMetrics, MetricsServer, list[int]]]:
    head = [100]
    store = AgentStore(tmp_path / "agent.db", account("metrics-me").address)
    metrics = AgentMetrics(store.path, 5, lambda: head[0])
    server = MetricsServer(metrics, "127.0.0.1", 0)
    try:
        yield store, metrics, server, head
    finally:
        server.close()
        store.close()


def test_the_scrape_shows_agent_db_and_what_the_agent_reported(
    served: tuple[AgentStore, AgentMetrics, MetricsServer, list[int]],
) -> None:
    store, metrics, server, head = served
    # job 1: worked and settled; job 2: being trained; job 3: a verifier's, drawn
    store.put_job(1, "worker", "accepted", fee=10, earned=9 * 10**18, outcome="accepted")
    store.record(1, "claim", "0x01", {"type": "job.claim"})
    store.record(1, "proof", "0x02", {"type": "proof.submit"})
    store.put_job(2, "worker", "training", fee=10)
    store.record(2, "claim", "0x03", {"type": "job.claim"})
    store.record(0, "reward.claim@40", "0x04", {"type": "reward.claim"})
    store.record(2, "proof", "0x05", {"type": "proof.submit"})
    store.retire(2, "proof", "its nonce went to another")  # signed, then set aside
    store.put_job(3, "verifier", "drawn", fee=7)
    metrics.deadline(1, "claimed", 150)  # settled since: no series
    metrics.deadline(2, "claimed", 130)
    metrics.deadline(3, "drawn", 104)
    metrics.training(2, 12, 40)
    metrics.training(1, 40, 40)
    metrics.error("not_assignee")
    metrics.error("not_assignee")
    metrics.error("Bad Code!")

    got = scrape(server.url)
    assert got[("nnet_agent_head_height", ())] == 100
    assert got[("nnet_agent_deadline_margin_blocks", ())] == 5
    assert named(got, "nnet_agent_jobs") == {
        (("role", "verifier"), ("stage", "drawn")): 1,
        (("role", "worker"), ("stage", "accepted")): 1,
        (("role", "worker"), ("stage", "training")): 1,
    }
    # every signed transaction, by step: a retired one was signed too; reward claims are one kind
    assert named(got, "nnet_agent_actions_total") == {
        (("kind", "claim"),): 2,
        (("kind", "proof"),): 2,
        (("kind", "reward.claim"),): 1,
    }
    assert got[("nnet_agent_earned_base_units_total", ())] == 9 * 10**18  # a float there
    assert named(got, "nnet_agent_deadline_blocks_left") == {
        (("job_id", "2"), ("stage", "claimed")): 30,
        (("job_id", "3"), ("stage", "drawn")): 4,
    }
    assert named(got, "nnet_agent_training_step") == {(("job_id", "2"),): 12}
    assert named(got, "nnet_agent_training_steps") == {(("job_id", "2"),): 40}
    assert named(got, "nnet_agent_errors_total") == {
        (("code", "not_assignee"),): 2,
        (("code", "bad_code_"),): 1,
    }

    # the chain moves on: blocks left shrink (never below 0); job 2's proof is signed (its
    # deadline is met), job 3 settles (its series go)
    head[0] = 120
    store.record(2, "proof", "0x06", {"type": "proof.submit"})
    store.put_job(3, "verifier", "accepted", earned=3 * 10**18, outcome="accepted")
    metrics.deadline(2, "claimed", 130)
    got = scrape(server.url)
    assert named(got, "nnet_agent_deadline_blocks_left") == {}
    assert named(got, "nnet_agent_training_step") == {(("job_id", "2"),): 12}
    assert got[("nnet_agent_earned_base_units_total", ())] == 12 * 10**18
    store.mark(2, "proof", "refused", "the node said no")  # refused: the deadline is back
    head[0] = 140
    got = scrape(server.url)
    assert named(got, "nnet_agent_deadline_blocks_left") == {
        (("job_id", "2"), ("stage", "claimed")): 0
    }


def test_error_codes_are_bounded(
    served: tuple[AgentStore, AgentMetrics, MetricsServer, list[int]],
) -> None:
    _, metrics, server, _ = served
    for i in range(MAX_ERROR_CODES + 30):  # codes a hostile node made up
        metrics.error(f"code_{i}")
    errors = named(scrape(server.url), "nnet_agent_errors_total")
    assert len(errors) == MAX_ERROR_CODES + 1
    assert errors[(("code", "other"),)] == 30


def test_only_get_metrics_and_only_for_loopback_hosts(
    served: tuple[AgentStore, AgentMetrics, MetricsServer, list[int]],
) -> None:
    _, _, server, _ = served
    base = server.url.removesuffix("/metrics")
    assert httpx.get(base + "/").status_code == 404
    assert httpx.get(base + "/metrics?x=1").status_code == 200
    # a page whose name rebinds to 127.0.0.1 sends its own name as Host
    rebound = httpx.get(server.url, headers={"Host": "evil.example:80"})
    assert rebound.status_code == 403 and b"bad_host" in rebound.content
    assert httpx.get(server.url, headers={"Host": "localhost"}).status_code == 200


def test_a_listen_address_beyond_loopback_needs_metrics_public(run_cli: RunCli) -> None:
    assert parse_metrics_listen("9464") == ("127.0.0.1", 9464)
    assert parse_metrics_listen(":0") == ("127.0.0.1", 0)
    assert parse_metrics_listen("[::1]:9464") == ("::1", 9464)
    assert parse_metrics_listen("localhost:1") == ("localhost", 1)
    assert parse_metrics_listen("0.0.0.0:9464", public=True) == ("0.0.0.0", 9464)
    for text in ("0.0.0.0:9464", "192.168.1.5:9464", "[::]:9464", "node.lan:9464"):
        with pytest.raises(UsageError, match="not a loopback address"):
            parse_metrics_listen(text)
    with pytest.raises(UsageError, match="not HOST:PORT"):
        parse_metrics_listen("127.0.0.1:http")
    # the command refuses before it unlocks a key or asks a node
    r = run_cli("node", "run", "--metrics-listen", "0.0.0.0:9464", "--node", "http://127.0.0.1:9")
    assert r.exit_code == 2, r.stderr
    assert "not a loopback address" in r.stderr and "--metrics-public" in r.stderr


# ---- a real agent process on a real devnet ----------------------------------------------------
CPU = "cpu/linux/x86_64/GenuineIntel/AVX2/torch-2.13.0+cpu/t1"


class Agent:
    """`nnet node run ... --metrics-listen 127.0.0.1:0 --log-json` as a real process; its log
    lines collected by a thread."""

    def __init__(self, dn: Devnet, key: str, tmp: Path, *flags: str) -> None:
        self.proc = dn.spawn(
            "node", "run", "--state", str(tmp / f"{key}.db"), "--workdir", str(tmp / key),
            "--metrics-listen", "127.0.0.1:0", "--log-json", *flags, key=key,
        )  # fmt: skip
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.dn = dn
        found = dn.wait_for("the agent's metrics to listen", self._url, timeout_s=120)
        self.url: str = found

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in list(self.lines) if x.startswith("{")]

    def _url(self) -> str | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"the agent exited {self.proc.returncode}: {''.join(self.lines)}")
        urls = [e["url"] for e in self.events() if e.get("event") == "metrics_listening"]
        return urls[0] if urls else None

    def until(self, what: str, check: Callable[[Samples], bool], timeout_s: float = 120) -> Samples:
        def met() -> Samples | None:
            samples = scrape(self.url)
            return samples if check(samples) else None

        try:
            return self.dn.wait_for(what, met, timeout_s=timeout_s)
        except Exception:
            print("".join(self.lines[-60:]))
            raise

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.reader.join(timeout=10)
        return "".join(self.lines)


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    with (tmp_path / "narration.log").open("w") as log:
        dn = start_devnet(
            tmp_path / "home",
            ("cold", "hot", "researcher", "gpu", "verifier"),
            fund_nnet=10_000,
            epoch_blocks=10,
            block_time=0.1,
            params=("market_proof_epochs=120", "market_min_class_pool=1"),
            narrate=log,
        )
        try:
            yield dn
        finally:
            stop_devnet(dn)


@pytest.mark.slow
def test_an_operator_agent_claims_the_owners_rewards_and_the_scrape_shows_it(
    devnet: Devnet, tmp_path: Path
) -> None:
    dn = devnet
    register = ("node", "register", "--gpu", "cpu", "--env", CPU, "--collateral", "100")
    dn.cli(*register, "--operator", "hot", "--send", "--wait", key="cold")
    dn.cli("stake", "5000", "--send", "--wait", key="cold")  # staking rewards accrue to cold
    dn.wait_for("rewards", lambda: int(dn.http.account(dn.addr["cold"])["pending_rewards"]))
    before = dn.balance("cold")
    agent = Agent(dn, "hot", tmp_path, "--no-worker", "--no-verifier", "--claim-every", "5")
    try:
        got = agent.until("a reward claim", lambda s: signed(s, "reward.claim") >= 1)
        height = int(dn.http.status()["height"])
        assert 0 < got[("nnet_agent_head_height", ())] <= height
        assert named(got, "nnet_agent_jobs") == {}
        assert named(got, "nnet_agent_deadline_blocks_left") == {}
        dn.wait_for("the claim to pay the owner", lambda: dn.balance("cold") > before)
    finally:
        log = agent.stop()
    claims = [e for e in agent.events() if e.get("event") == "claim_rewards"]
    assert claims, log[-3000:]
    assert dn.balance("hot") < 10_000 * 10**18  # the hot key paid the fees, was paid nothing


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_worker_agents_scrape_shows_its_deadline_and_training(
    devnet: Devnet, tmp_path: Path
) -> None:
    from tests.proof.conftest import TINY, make_tiny_data

    dn = devnet
    for name in ("gpu", "verifier"):  # exact mode: the verifier node is the class's pool
        register = ("node", "register", "--gpu", "cpu", "--device", "cpu", "--collateral", "1000")
        dn.cli(*register, "--send", "--wait", key=name)
    make_tiny_data(tmp_path / "tiny.safetensors")
    spec = tmp_path / "tiny.toml"
    job = {
        **TINY,
        "job": {"seed": 7, "steps": 1500, "batch_size": 32},  # seconds of training to watch
        "checkpoint": {"every": 500, "keep_every": 1},
    }
    spec.write_text(tomli_w.dumps(job), encoding="utf-8")
    job_id = dn.submit(spec, "researcher", fee="10", verifiers=1)
    agent = Agent(dn, "gpu", tmp_path, "--no-verifier")
    labels = (("job_id", str(job_id)),)
    try:
        # the training gauge and the deadline gauge are set at different moments of a pass:
        # wait for both in one scrape
        training = agent.until(
            "training",
            lambda s: (
                ("nnet_agent_training_step", labels) in s
                and bool(named(s, "nnet_agent_deadline_blocks_left"))
            ),
            timeout_s=300,
        )
        view = dn.job(job_id)
        [(key, left)] = named(training, "nnet_agent_deadline_blocks_left").items()
        assert key == (("job_id", str(job_id)), ("stage", "claimed"))
        # blocks left when the agent last looked: at most the deadline less the head it had seen
        head = training[("nnet_agent_head_height", ())]
        assert 0 < left <= view["deadline_height"] - head + 1
        assert training[("nnet_agent_training_steps", labels)] == 1500
        assert named(training, "nnet_agent_actions_total") == {(("kind", "claim"),): 1}
        proved = agent.until("the proof", lambda s: signed(s, "proof") == 1, timeout_s=300)
        assert proved[("nnet_agent_training_step", labels)] == 1500
        assert named(proved, "nnet_agent_deadline_blocks_left") == {}  # the proof is signed
        assert sum(named(proved, "nnet_agent_jobs").values()) == 1
    finally:
        agent.stop()
