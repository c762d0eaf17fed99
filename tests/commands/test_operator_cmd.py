"""Owner (cold) and operator (hot) keys through the real CLI and a real daemon (127.0.0.1, port
0): `nnet node register --operator`, `nnet node show` of both keys, an operator's `nnet node
withdraw` refused, the owner's withdrawal and change of operator signed offline (`--nonce`,
`nnet tx sign`, an unreachable --node) and sent elsewhere with `nnet send`; and (slow) a job
claimed, trained, proved and opened by the hot key, verified by a node run by its own hot key,
which pays the owners.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from nnet.commands.node import _human as show_human
from tests.commands.devnet_harness import Devnet, Result, start_devnet, stop_devnet

UNIT = 10**18
CPU = "cpu/linux/x86_64/GenuineIntel/AVX2/torch-2.13.0+cpu/t1"
OFFLINE = "http://127.0.0.1:9"  # nothing listens: a command that asks a node fails
NAMES = ("researcher", "cold", "hot", "hot2", "v-cold", "v-hot", "verifier-1", "verifier-2", "x")
# epochs of ~1 s (10 blocks of 0.1 s); deadlines roomy for a loaded 2-core machine
PARAMS = (
    "market_proof_epochs=120",
    "market_open_epochs=10",
    "market_attest_epochs=60",
    "market_challenge_q=3",
    "market_detection_ppm=500000",
)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    root = tmp_path_factory.mktemp("operator-devnet")
    with (root / "narration.log").open("w") as log:
        dn = start_devnet(
            root / "home",
            NAMES,
            fund_nnet=10_000,
            epoch_blocks=10,
            block_time=0.1,
            params=PARAMS,
            narrate=log,
        )
        try:
            yield dn
        finally:
            stop_devnet(dn)


def committed(result: Result) -> None:
    receipt = result.one()
    assert receipt["status"] == "committed", receipt


def register(dn: Devnet, key: str, *how: str, collateral: str = "100") -> None:
    args = ("node", "register", "--gpu", "cpu", *how, "--collateral", collateral)
    committed(dn.cli(*args, "--send", "--wait", key=key))


def test_the_operator_cannot_withdraw_collateral_the_offline_owner_can(devnet: Devnet) -> None:
    dn = devnet
    cold, hot, hot2 = dn.addr["cold"], dn.addr["hot"], dn.addr["hot2"]
    register(dn, "cold", "--env", CPU, "--operator", "hot")  # a key name or an address
    # `node show` of either key shows the node: its owner and its operator
    for name in ("cold", "hot"):
        view = json.loads(dn.cli("node", "show", name, "--json").stdout)
        assert (view["address"], view["owner"], view["operator"]) == (cold, cold, hot)
    human = show_human(view)  # what a terminal shows
    assert f"owner: {cold}\n" in human and f"operator: {hot}\n" in human, human
    # the operator may not take collateral out
    refused = dn.cli("node", "withdraw", "10", "--send", "--wait", key="hot", expect=None)
    assert refused.exit_code != 0 and "not_owner" in refused.stderr + refused.stdout
    assert int(dn.node("cold")["collateral"]) == 100 * UNIT
    # the owner signs offline (no node asked: --nonce, and the node given cannot be reached),
    # then anyone sends the signed lines from an online machine
    chain = dn.http.status()["chain"]
    nonce = int(dn.http.account(cold)["nonce"])
    offline = ("--nonce", str(nonce), "--chain", chain, "--node", OFFLINE)
    withdraw = dn.cli("node", "withdraw", "10", *offline, key="cold").one()
    unsigned = json.dumps({"type": "node.set_operator", "body": {"operator": hot2}}) + "\n"
    again = ("--nonce", str(nonce + 1), "--chain", chain, "--node", OFFLINE)
    set_op = dn.cli("tx", "sign", "-", *again, key="cold", input=unsigned).one()
    before = dn.balance("cold")
    lines = json.dumps(withdraw) + "\n" + json.dumps(set_op) + "\n"
    receipts = dn.cli("send", "-", "--wait", input=lines).records()
    assert [r["status"] for r in receipts] == ["committed", "committed"], receipts
    fees = int(withdraw["fee"]) + int(set_op["fee"])
    assert dn.balance("cold") == before + 10 * UNIT - fees
    node = dn.node("cold")
    assert int(node["collateral"]) == 90 * UNIT and node["operator"] == hot2
    # the old operator is powerless: it operates nothing now; the new one cannot withdraw either
    gone = dn.cli("node", "show", "hot", expect=None)
    assert gone.exit_code != 0 and "not a registered node" in gone.stderr
    refused = dn.cli("node", "withdraw", "1", "--send", "--wait", key="hot2", expect=None)
    assert refused.exit_code != 0 and "not_owner" in refused.stderr + refused.stdout
    stranger = dn.cli("node", "set-operator", "x", "--send", "--wait", key="x", expect=None)
    assert stranger.exit_code != 0 and "not_a_node" in stranger.stderr + stranger.stdout
    # the owner names the operator back (online this time); `node show hot` finds the node again
    committed(dn.cli("node", "set-operator", "hot", "--send", "--wait", key="cold"))
    assert json.loads(dn.cli("node", "show", "hot", "--json").stdout)["address"] == cold


@pytest.mark.slow
def test_a_job_run_by_hot_keys_pays_the_owners(devnet: Devnet, tmp_path: Path) -> None:
    """The hot key claims, fetches (the run is bound to it), trains, proves and opens; the drawn
    verifier nodes act through their keys (one of them a hot key); the owners are paid."""
    from tests.commands.test_attacks_devnet import JOB
    from tests.proof.conftest import make_tiny_data

    dn = devnet
    cold = dn.addr["cold"]
    # the prover's class is this machine's (what `nnet train` records), verifiers' too; the owner
    # registers (again, after the test above) naming its hot key
    register(dn, "cold", "--device", "cpu", "--operator", "hot")
    register(dn, "v-cold", "--device", "cpu", "--operator", "v-hot", collateral="1000")
    for name in ("verifier-1", "verifier-2"):
        register(dn, name, "--device", "cpu", collateral="1000")
    make_tiny_data(tmp_path / "tiny.safetensors")
    spec = tmp_path / "tiny.toml"
    spec.write_text(tomli_w.dumps(JOB), encoding="utf-8")
    acting = {cold: "hot", dn.addr["v-cold"]: "v-hot"}
    before = {n: dn.balance(n) for n in ("cold", "v-cold", "hot", "v-hot")}

    job = dn.submit(spec, "researcher", fee="10", verifiers=3)
    run = dn.claim_and_train(job, "hot", tmp_path)
    assert dn.job(job)["assignee"] == cold
    committed(dn.cli("prove", str(run), "--job", str(job), "--send", "--wait", key="hot"))
    view = dn.wait_status(job, "drawn")
    assert dn.addr["v-cold"] in view["drawn"]
    keys = [acting.get(node, dn.name_of(node)) for node in view["drawn"]]
    for key in keys:
        committed(dn.cli("verify", str(job), "--send", "--wait", key=key))
    dn.wait_status(job, "challenged")
    opened = ("prove", str(run), "--job", str(job), "--open", "--send", "--wait")
    committed(dn.cli(*opened, key="hot"))
    dn.wait_status(job, "opened")
    # the hot-keyed verifier attests first; the job settles at a majority (2 of 3), after which
    # the last verifier's attestation is refused (job settled)
    for key in sorted(keys, key=lambda k: k != "v-hot"):
        dn.cli("verify", str(job), "--send", "--wait", key=key, expect=None)
    settled = dn.settled(job)
    assert settled["status"] == "accepted", settled["settlement"]
    assert settled["proof"]["prover"] == dn.addr["hot"]
    to_node = int(settled["settlement"]["to_node"])
    shares = settled["settlement"]["to_verifiers"]
    assert dn.balance("cold") == before["cold"] + to_node
    assert dn.balance("v-cold") == before["v-cold"] + int(shares.get(dn.addr["v-cold"], 0))
    assert dn.addr["v-cold"] in shares
    for hot in ("hot", "v-hot"):  # the hot keys paid fees and were paid nothing
        assert dn.balance(hot) < before[hot]
