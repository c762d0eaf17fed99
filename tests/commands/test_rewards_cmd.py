"""Tokenomics end to end on a real daemon: `nnet claim` from a cron-like loop, `nnet balance`
pending rewards, and a governance change of target_inflation visible in `nnet econ params`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from nnet.encoding import UNIT
from nnet.keys import KeyStore
from nnet.node.server import Daemon, DaemonOptions
from tests.chain.helpers import account
from tests.node.conftest import start_daemon


@dataclass
class Net:
    daemon: Daemon
    http: httpx.Client
    env: dict[str, str]


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def start_net(run_cli, tmp_path: Path) -> Iterator[Callable[..., Net]]:  # type: ignore[no-untyped-def]
    """start(addresses, fund_nnet, genesis_params) -> a running sequencer; keys in client/."""
    running: list[tuple[Daemon, threading.Thread, httpx.Client]] = []

    def start(addresses: list[str], fund_nnet: int, params: dict[str, int] | None = None) -> Net:
        home = tmp_path / "seq"
        args = ["devnet", "init", "--json", "--epoch-blocks", "10"]
        for a in addresses:
            args += ["--fund", f"{a}={fund_nnet}"]
        r = run_cli(*args, env={"NNET_HOME": str(home)})
        assert r.exit_code == 0, r.stderr
        if params:  # an operator editing the genesis before the first start
            genesis = json.loads((home / "genesis.json").read_text())
            genesis["params"].update(params)
            (home / "genesis.json").write_text(json.dumps(genesis))
        daemon, thread = start_daemon(DaemonOptions(home=home, port=0, block_time_s=0.05))
        http = httpx.Client(base_url=daemon.url, timeout=10)
        running.append((daemon, thread, http))
        env = {"NNET_HOME": str(tmp_path / "client"), "NNET_NODE": daemon.url}
        return Net(daemon, http, env)

    yield start
    for daemon, thread, http in running:
        http.close()
        daemon.stop()
        thread.join(timeout=10)


def pending(net: Net, address: str) -> int:
    return int(net.http.get(f"/accounts/{address}").json()["pending_rewards"])


def claimed_amount(stdout: str) -> tuple[int, int]:
    """(amount, tx fee) of a `nnet claim` run: (0, 0) for "nothing_to_claim", else its reward
    event and the fee its transaction paid."""
    record = json.loads(stdout.strip().splitlines()[-1])
    if record.get("status") == "nothing_to_claim":
        return 0, 0
    assert record["status"] == "committed", record
    (event,) = [e for e in record["events"] if e["type"] == "reward"]
    return int(event["amount"]), int(record["tx"]["fee"])


def test_claim_in_a_cron_loop_pays_each_reward_once(  # type: ignore[no-untyped-def]
    run_cli, start_net, tmp_path: Path, password: str
) -> None:
    alice = KeyStore(tmp_path / "client").create("alice", password, light=True).address
    payer = account("rewards-payer")
    net = start_net([alice, payer.address], 1000)
    env = net.env

    def pay_fees(n: int) -> None:
        """Usage: transfers paying 50 NNET of fees each, which fund stakers at the epoch end."""
        for _ in range(n):
            tx = payer.transfer(payer.address, 1, fee=50 * UNIT)
            assert net.http.post("/txs", json=tx.to_dict()).status_code == 202

    r = run_cli("stake", "500", "--key", "alice", "--send", "--wait", env=env)
    assert r.exit_code == 0, r.stderr
    fees = 300 * UNIT + int(json.loads(r.stdout)["tx"]["fee"])  # every fee paid to stakers
    base = int(net.http.get(f"/accounts/{alice}").json()["balance"])

    claims: list[int] = []
    claim_fees: list[int] = []
    for round_ in range(2):
        pay_fees(3)
        wait_until(lambda: pending(net, alice) > 0, "rewards to accrue")
        r = run_cli("balance", alice, "--json", env=env)
        assert r.exit_code == 0 and int(json.loads(r.stdout)["pending_rewards"]) > 0
        for _ in range(2):  # cron fires twice: the second run finds nothing (or a new epoch's)
            r = run_cli("claim", "--key", "alice", env=env)
            assert r.exit_code == 0, r.stderr
            amount, fee = claimed_amount(r.stdout)
            claims.append(amount)
            claim_fees.append(fee)
        assert claims[2 * round_] > 0, claims
    assert claims[1] == 0 or claims[1] < claims[0]
    final = net.http.get(f"/accounts/{alice}").json()
    # every claim paid exactly what it said, less the claim's own transaction fee
    assert int(final["balance"]) == base + sum(claims) - sum(claim_fees)
    # alice's share of the fees (300 NNET and the minimum fees of her own transactions):
    # 500 of 1,000,500 NNET bonded, rounded down
    fees += sum(claim_fees)
    assert sum(claims) + int(final["pending_rewards"]) <= fees * 500 // 1_000_500 + 2


@pytest.mark.slow
def test_governance_lowers_inflation_and_econ_params_shows_it(  # type: ignore[no-untyped-def]
    run_cli, start_net, tmp_path: Path, password: str
) -> None:
    store = KeyStore(tmp_path / "client")
    a, b, c = (store.create(n, password, light=True).address for n in ("a", "b", "c"))
    gov = {"gov_deposit_epochs": 2, "gov_voting_epochs": 6, "gov_min_deposit": 10 * UNIT}
    net = start_net([a, b, c], 200_100, gov)
    env = net.env

    def cli(*args: str) -> Any:
        r = run_cli(*args, env=env)
        assert r.exit_code == 0, r.stderr
        return r

    r = cli("econ", "params", "--json")
    before = {json.loads(x)["name"]: json.loads(x) for x in r.lines()}
    assert before["target_inflation"]["value"] == "0.05"
    assert before["target_inflation"]["source"] == "chain"
    for name in ("a", "b", "c"):  # 600k of 1.6M bonded will vote: quorum 33.4 % is met
        cli("stake", "200000", "--key", name, "--send", "--wait")
    cli("vote", "propose", "param", "target_inflation", "4%", "--deposit", "10", "--key", "a",
        "--send", "--wait")  # fmt: skip
    cli("vote", "yes", "1", "--key", "a", "--send", "--wait")
    cli("vote", "yes", "1", "--key", "b", "--send", "--wait")
    cli("vote", "veto", "1", "--key", "c", "--send", "--wait")
    live = json.loads(cli("vote", "show", "1", "--json").stdout)
    if live["status"] == "voting":  # what passes if it ended now, and the time left
        assert live["tally_if_ended_now"]["outcome"] == "passed"
        assert live["blocks_left"] >= 0 and live["votes"][c] == "veto"
        listed = [
            json.loads(x) for x in cli("vote", "list", "--status", "voting", "--json").lines()
        ]
        assert [p["id"] for p in listed] == [1]

    def decided() -> Any:
        p = net.http.get("/proposals/1").json()
        return p if p["status"] not in ("deposit", "voting") else None

    proposal = wait_until(decided, "the tally", timeout_s=60)
    assert proposal["status"] == "passed", proposal  # veto 1/3 <= 33.4 %, yes 2/3 > 50 %
    shown = json.loads(cli("vote", "show", "1", "--json").stdout)
    assert shown["tally"]["outcome"] == "passed" and shown["enforced"]["done"] is True
    effective = proposal["effective_height"]
    assert net.http.get("/status").json()["height"] >= effective - 1
    r = cli("econ", "params", "--json")
    after = {json.loads(x)["name"]: json.loads(x) for x in r.lines()}
    assert after["target_inflation"]["value"] == "0.04"
    assert "at height" in r.stderr
    assert net.http.get("/params").json()["target_inflation"]["value"] == 40_000_000


def test_econ_params_falls_back_to_defaults_without_a_node(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("econ", "params", "--json", "--node", "http://127.0.0.1:9")
    assert r.exit_code == 0
    records = [json.loads(x) for x in r.lines()]
    assert {x["source"] for x in records} == {"defaults"}
    assert "showing the defaults" in r.stderr
