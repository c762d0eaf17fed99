"""The mempool journal: what a node answered 202 survives a kill -9; `wait` resends what is lost."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from nnet.client import NodeClient
from nnet.encoding import UNIT
from nnet.errors import InvalidTx, NnetError, NotFound
from nnet.node.core import Node
from nnet.store.chaindb import ChainDB
from tests.chain.helpers import Devnet, account, make_devnet
from tests.node.conftest import RunningNode, devnet_init
from tests.node.test_core import body
from tests.node.test_daemon_process import start


def _node(path: Path, net: Devnet) -> Node:
    return Node(ChainDB(path), net.genesis, signer=net.sequencer.secret)


def test_a_reopened_node_readmits_its_pending_txs_in_order_and_drops_what_no_longer_applies(
    tmp_path: Path,
) -> None:
    net = make_devnet(3, tag="journal")
    alice, bob, carol = net.users
    node = _node(tmp_path / "chain.db", net)
    kept = [alice.transfer(bob.address, UNIT) for _ in range(4)] + [bob.transfer(carol.address, 1)]
    assert all("hash" in r for r in node.submit_body(body(*kept), "x").results)
    # rows that cannot come back: a nonce used meanwhile, and a damaged row
    used = carol.transfer(bob.address, 1, nonce=0)
    node.submit_body(body(used), "x")
    node.produce_block(1_000)  # commits all six; the journal keeps none of them
    assert node.db.get_mempool() == []
    later = [alice.transfer(bob.address, 1) for _ in range(3)]
    node.submit_body(body(*later), "x")
    replay = carol.transfer(alice.address, 2, nonce=0)  # carol's nonce 0 is committed
    node.db.journal_mempool([(replay.hash_hex, json.dumps(replay.to_dict()))])
    node.db.journal_mempool([("0x" + "ab" * 32, "{not json")])
    node.db.close()  # no shutdown step: the journal is all there is

    again = _node(tmp_path / "chain.db", net)
    assert list(again.mempool.entries) == [t.hash_hex for t in later]
    assert (again.readmitted, again.dropped) == (3, 2)
    assert [h for h, _ in again.db.get_mempool()] == [t.hash_hex for t in later]
    assert again.account(alice.address)["next_nonce"] == 4 + 3
    assert len(again.produce_block(2_000).block.txs) == 3


@pytest.mark.slow
def test_pending_txs_survive_sigkill_of_a_real_daemon(tmp_path: Path) -> None:
    home = tmp_path / "home"
    users = [account(f"kill-user-{i}") for i in range(2)]
    devnet_init(home, users)
    proc, url = start(home, "--block-time", "600")  # no block while we look
    txs = [u.transfer(users[0].address, i + 1) for i in range(10) for u in users]
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            lines = "\n".join(json.dumps(t.to_dict()) for t in txs) + "\n"
            r = http.post("/txs", content=lines, headers={"content-type": "application/x-ndjson"})
            assert r.status_code == 202 and len(r.json()["results"]) == 20
            assert http.get("/status").json()["mempool"] == 20
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
    proc, url = start(home, "--block-time", "0.1")
    try:
        client = NodeClient(url)
        for t in txs:  # every one answered 202 is committed after the restart
            assert client.wait(t.hash_hex, timeout_s=30)["status"] == "committed"
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_wait_resubmits_a_tx_the_node_lost(running: RunningNode) -> None:
    alice, bob = running.users[0], running.users[1]
    lost = alice.transfer(bob.address, UNIT)  # as if accepted, then lost in a restart
    client = NodeClient(running.url)
    with pytest.raises(NotFound):
        client.receipt(lost.hash_hex)
    with pytest.raises(NnetError, match=r"waiting for .* to be committed"):
        client.wait(lost.hash_hex, timeout_s=0.3)  # without the tx, wait can only wait
    receipt = client.wait(lost.hash_hex, timeout_s=10, tx=lost.to_dict())
    assert receipt["status"] == "committed" and receipt["tx"] == lost.to_dict()
    # lost for good: its nonce was used by another tx meanwhile, so resending is refused
    gone = alice.transfer(bob.address, 2, nonce=1)
    other = alice.transfer(bob.address, 3, nonce=1)
    running.wait_committed(client.submit([other.to_dict()])[0]["hash"])
    with pytest.raises(InvalidTx, match="lost") as info:
        client.wait(gone.hash_hex, timeout_s=10, tx=gone.to_dict())
    assert info.value.code == "bad_nonce"
    client.close()
