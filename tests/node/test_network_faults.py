"""The fault tests of a network (issue 13): four validators as real daemon processes on loopback.

Each test injects one fault into a running 4-validator devnet (network_harness.py) and checks that
the chain does what Tendermint promises: it keeps finalizing with one of four down, stops (and
never forks) with two down or split in halves, resumes when the fault is gone, convicts a
double-signer and routes around a proposer that withholds its block. After every test
`check_safety` reads every live node's blocks: one block per height, identical state roots,
a balanced supply.

The reversible faults (kills, a partition) share one network; the Byzantine doubles
(byzantine.py) each get their own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nnet.chain.fees import DEFAULT_FEE_SCHEDULE, fit_fee
from nnet.config import node_keys_home
from nnet.encoding import UNIT, to_json_line
from nnet.keys import KeyStore
from nnet.node.consensus.proposer import ProposerSchedule
from nnet.services.devnet import VALIDATOR_KEY, VALIDATOR_PASSWORD
from nnet.tx import build_tx
from tests.node.network_harness import (
    Network,
    check_safety,
    heights,
    start_network,
    wait_for_height,
)

STALL_S = 3.0  # how long a network without a quorum is watched for (no height may move)
SETTLE_S = 1.0  # for messages in flight when a fault starts (fault files are re-read in 0.2 s)
VICTIM = "node-3"


# ---- the shared network, for the reversible faults ---------------------------------------------
@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with start_network(tmp_path_factory.mktemp("faults")) as network:
        yield network


@pytest.fixture
def healthy(net: Network) -> Iterator[Network]:
    """The shared network with every node up and unfaulted, all past a common height; after the
    test, safety on every live node."""
    net.clear_faults()
    for name in sorted(net.down_nodes):
        net.restart(name)
    top = max(h or 0 for h in heights(net).values())
    wait_for_height(net, net.names, top + 1, timeout=30)
    yield net
    check_safety(net)


def _others(net: Network, *names: str) -> list[str]:
    return [n for n in net.names if n not in names]


def _assert_stalled(net: Network, names: list[str]) -> dict[str, int | None]:
    """No node of `names` finalizes anything for STALL_S (after SETTLE_S for what was in
    flight); their heights."""
    time.sleep(SETTLE_S)
    before = heights(net, names)
    assert all(h is not None for h in before.values()), before
    time.sleep(STALL_S)
    after = heights(net, names)
    assert after == before, f"finalized without a quorum: {before} -> {after}"
    return before


def test_one_of_four_killed_the_rest_finalize_and_it_rejoins_and_votes(healthy: Network) -> None:
    net = healthy
    rest = _others(net, VICTIM)
    net.kill(VICTIM)  # SIGKILL: no goodbye, its signing record and database as they were
    start = max(h or 0 for h in heights(net, rest).values())
    wait_for_height(net, rest, start + 3, timeout=20)  # 3 of 4 is more than 2/3
    check_safety(net, rest)

    net.restart(VICTIM)
    target = max(h or 0 for h in heights(net, rest).values())
    wait_for_height(net, [VICTIM], target, timeout=30)  # synced: blocks and certificates checked
    assert net.status(VICTIM)["consensus"]["validator"] is True

    # it votes again: its precommit is in the certificate of a height decided after it rejoined
    me = net.addresses[VICTIM]
    deadline = time.monotonic() + 20
    checked = target
    while True:
        head = net.height("node-0") or 0
        for h in range(checked + 1, head + 1):
            if me in net.signers("node-0", h):
                return
        checked = max(checked, head)
        assert time.monotonic() < deadline, (
            f"{VICTIM} signed no certificate from {target + 1} to {checked}:\n{net.log(VICTIM)}"
        )
        time.sleep(0.1)


def test_two_of_four_killed_stops_finality_without_forking_and_resumes(healthy: Network) -> None:
    net = healthy
    gone = ["node-2", "node-3"]
    rest = _others(net, *gone)
    for name in gone:
        net.kill(name)
    stalled = _assert_stalled(net, rest)  # 2 of 4 is not more than 2/3: nothing is final
    check_safety(net, rest)

    net.restart("node-2")  # 3 of 4 again
    top = max(h or 0 for h in stalled.values())
    wait_for_height(net, [*rest, "node-2"], top + 2, timeout=40)


def test_a_partition_in_halves_finalizes_nothing_and_heals(healthy: Network) -> None:
    net = healthy
    left, right = ["node-0", "node-1"], ["node-2", "node-3"]
    net.partition(left, right)
    stalled = _assert_stalled(net, net.names)  # neither side has more than 2/3
    check_safety(net)

    net.clear_faults()  # heal
    top = max(h or 0 for h in stalled.values())
    wait_for_height(net, net.names, top + 2, timeout=40)


# ---- Byzantine doubles, each on a network of its own --------------------------------------------
def _post_tx(net: Network, name: str, tx: Any) -> dict[str, Any]:
    resp = net.http.post(
        f"{net.url(name)}/txs",
        content=(to_json_line(tx.to_dict()) + "\n").encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    result: dict[str, Any] = resp.json()["results"][0]
    return result


def _slash_of(net: Network, name: str, address: str) -> dict[str, Any] | None:
    """The committed `slash` event of `address` on node `name`, if there is one."""
    page = net.get(name, "/events", **{"from": 1, "limit": 1000})
    for event in page["events"]:
        if event.get("type") == "slash" and event.get("address") == address:
            found: dict[str, Any] = event
            return found
    return None


def test_a_double_signer_is_convicted_slashed_and_jailed(tmp_path: Path) -> None:
    epoch = 10  # the jailed validator leaves the set at the next epoch boundary
    with start_network(tmp_path, epoch_blocks=epoch) as net:
        bad = VICTIM
        honest = _others(net, bad)
        addr = net.addresses[bad]
        bonded = int(net.get("node-0", f"/accounts/{addr}")["stake"]["bonded"])
        assert bonded == 1_000_000 * UNIT
        assert int(net.get("node-0", f"/accounts/{net.addresses['node-0']}")["balance"]) > 0
        net.start_double(bad, "double-sign")

        deadline = time.monotonic() + 20
        while (slash := _slash_of(net, "node-0", addr)) is None:
            assert time.monotonic() < deadline, (
                f"no slash of the double-signer within 20 s:\n{net.grep('node-0', 'evidence')}"
            )
            time.sleep(0.2)

        # the evidence is a transaction in a block, its receipt says what it did
        receipt = net.get("node-0", f"/txs/{slash['tx']}")
        assert receipt["status"] == "committed" and receipt["type"] == "evidence"
        assert receipt["tx"]["body"]["a"]["validator"] == addr
        slashes = [e for e in receipt["events"] if e["type"] == "slash"]
        assert [(e["address"], e["reason"]) for e in slashes] == [(addr, "double_sign")]
        block = net.get("node-0", f"/blocks/{receipt['height']}")
        assert "evidence" in [tx["type"] for tx in block["txs"]]

        # slashed: double_sign_slash_ppm (5 %) of its bonded stake, burned
        penalty = bonded * 50_000 // 1_000_000
        assert int(slashes[0]["amount"]) == penalty
        wait_for_height(net, honest, receipt["height"])
        for name in honest:
            stake = net.get(name, f"/accounts/{addr}")["stake"]
            assert int(stake["bonded"]) == bonded - penalty
            assert int(net.get(name, "/supply")["burned"]) >= penalty  # burned, not moved

        # jailed for good: it leaves the set at the epoch boundary, and may never unjail
        deadline = time.monotonic() + 30
        while addr in [v["address"] for v in net.get("node-0", "/validators")["validators"]]:
            assert time.monotonic() < deadline, "the convicted validator is still in the set"
            time.sleep(0.2)
        assert net.get("node-0", "/validators")["total_power"] == 3_000_000
        refused = _post_tx(net, "node-0", _unjail_tx(net, bad))
        assert refused.get("code") == "tombstoned", refused

        # the honest three go on, and agree with each other and with the double
        top = max(h or 0 for h in heights(net, honest).values())
        wait_for_height(net, honest, top + 3, timeout=20)
        check_safety(net)


def _unjail_tx(net: Network, name: str) -> Any:
    """A `validator.unjail` signed by node `name`'s validator key."""
    home = net.nodes[name].home
    password = (home / VALIDATOR_PASSWORD).read_text().strip()
    secret = KeyStore(node_keys_home(home)).secret(VALIDATOR_KEY, password)
    sender = net.addresses[name]
    nonce = int(net.get("node-0", f"/accounts/{sender}")["next_nonce"])
    chain = net.get("node-0", "/status")["chain"]
    return fit_fee(
        lambda fee: build_tx(chain, "validator.unjail", sender, nonce, fee, {}),
        DEFAULT_FEE_SCHEDULE,
    ).signed(secret)


def test_a_withheld_proposal_changes_the_round_and_the_next_proposer_commits(
    tmp_path: Path,
) -> None:
    with start_network(tmp_path) as net:
        bad = VICTIM
        withholder = net.addresses[bad]
        net.start_double(bad, "withhold")
        start = max(h or 0 for h in heights(net).values())
        end = start + 8  # two turns of four proposers: the withholder has at least one
        wait_for_height(net, net.names, end, timeout=45)

        skipped = []
        for h in range(start + 1, end + 1):
            vset = net.get("node-0", "/validators", height=h)
            schedule = ProposerSchedule(
                {v["address"]: v["power"] for v in vset["validators"]}, vset["since"]
            )
            round_ = net.commit_round("node-0", h)
            proposer = net.get("node-0", f"/blocks/{h}")["header"]["proposer"]
            assert proposer != withholder, f"a withheld block was finalized at {h}"
            assert proposer == schedule.proposer(h, round_)
            if schedule.proposer(h, 0) == withholder:
                assert round_ >= 1, f"height {h}: the withholder's round 0 was decided"
                skipped.append(h)
        assert skipped, f"the withholder was never the proposer from {start + 1} to {end}"
        check_safety(net)
