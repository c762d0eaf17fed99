"""`nnet claim NODE`: an operator (hot) key claims its node's rewards into the owner's (cold)
balance, on a real daemon (127.0.0.1, port 0). The owner stakes, so rewards accrue to the node's
address every epoch; a stranger's claim is refused (`not_operator`) before anything is signed,
and the chain refuses the same claim signed by hand; the operator's claim pays the owner exactly
the claimed amount, and the operator only pays the fee.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.commands.devnet_harness import Devnet, start_devnet, stop_devnet

CPU = "cpu/linux/x86_64/GenuineIntel/AVX2/torch-2.13.0+cpu/t1"

pytestmark = pytest.mark.slow  # a daemon process and a few epochs of 1 s


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    with (tmp_path / "narration.log").open("w") as log:
        dn = start_devnet(
            tmp_path / "home",
            ("cold", "hot", "x"),
            fund_nnet=10_000,
            epoch_blocks=10,
            block_time=0.1,
            params=(),
            narrate=log,
        )
        try:
            yield dn
        finally:
            stop_devnet(dn)


def pending(dn: Devnet, name: str) -> int:
    return int(dn.http.account(dn.addr[name])["pending_rewards"])


def test_the_operator_claims_the_nodes_rewards_for_the_owner(devnet: Devnet) -> None:
    dn = devnet
    cold, hot = dn.addr["cold"], dn.addr["hot"]
    register = ("node", "register", "--gpu", "cpu", "--env", CPU, "--collateral", "100")
    dn.cli(*register, "--operator", "hot", "--send", "--wait", key="cold")
    dn.cli("stake", "5000", "--send", "--wait", key="cold")  # the cold key's last online act
    dn.wait_for("rewards for the node's owner", lambda: pending(dn, "cold"))

    # a stranger: refused before signing, and the chain says the same of a hand-signed claim
    nonce = dn.http.account(dn.addr["x"])["nonce"]
    refused = dn.cli("claim", "cold", key="x", expect=1)
    assert "not_operator" in refused.stderr or "does not operate" in refused.stderr
    assert refused.stdout == "" and dn.http.account(dn.addr["x"])["nonce"] == nonce
    by_hand = dn.send_tx("x", "reward.claim", {"node": cold}, expect=1)
    assert by_hand["code"] == "not_operator", by_hand
    not_a_node = dn.cli("claim", "x", key="hot", expect=1)  # x registered no node
    assert "not a registered compute node" in not_a_node.stderr

    # the operator, naming the node by key name and then by address
    for node in ("cold", cold):
        floor = dn.wait_for("rewards", lambda: pending(dn, "cold"))
        owner, operator = dn.balance("cold"), dn.balance("hot")
        receipt = dn.cli("claim", node, key="hot").one()
        assert receipt["status"] == "committed", receipt
        assert receipt["tx"]["from"] == hot and receipt["tx"]["body"] == {"node": cold}
        [reward] = [e for e in receipt["events"] if e["type"] == "reward"]
        assert reward["address"] == cold and int(reward["amount"]) >= floor
        assert dn.balance("cold") == owner + int(reward["amount"])  # the owner signed nothing
        assert dn.balance("hot") == operator - int(receipt["tx"]["fee"])  # and paid nothing


def test_with_nothing_pending_the_operator_is_told_when_the_epoch_ends(devnet: Devnet) -> None:
    dn = devnet
    register = ("node", "register", "--gpu", "cpu", "--env", CPU, "--collateral", "100")
    dn.cli(*register, "--operator", "hot", "--send", "--wait", key="cold")  # no stake: no rewards
    assert pending(dn, "cold") == 0
    r = dn.cli("claim", "cold", key="hot")
    record = json.loads(r.stdout)
    assert record["status"] == "nothing_to_claim" and record["address"] == dn.addr["cold"]
    assert "nothing to claim for" in r.stderr
