"""The node core without HTTP: admission against pending txs, blocks, restart, replicas."""

from __future__ import annotations

import json
from pathlib import Path

from nnet.chain.block import parse_block
from nnet.encoding import UNIT
from nnet.node.core import Node
from nnet.store.chaindb import ChainDB
from nnet.tx import Tx
from tests.chain.helpers import FUNDED, Devnet, make_devnet


def body(*txs: Tx) -> bytes:
    return ("\n".join(json.dumps(t.to_dict()) for t in txs) + "\n").encode()


def _node(tmp_path: Path, net: Devnet, name: str = "chain.db", signer: bool = True) -> Node:
    return Node(
        ChainDB(tmp_path / name), net.genesis, signer=net.sequencer.secret if signer else None
    )


def test_next_nonce_counts_pending_and_block_commits_them(tmp_path: Path) -> None:
    net = make_devnet(2)
    node = _node(tmp_path, net)
    alice, bob = net.users
    res = node.submit_body(
        body(alice.transfer(bob.address, 1), alice.transfer(bob.address, 2)), "application/x-ndjson"
    )
    assert [r["status"] for r in res.results] == ["pending", "pending"]
    acct = node.account(alice.address)
    assert (acct["nonce"], acct["next_nonce"]) == (0, 2)
    assert node.receipt(res.results[0]["hash"])["status"] == "pending"
    result = node.produce_block(10_000)
    assert len(result.block.txs) == 2 and len(node.mempool) == 0
    acct = node.account(alice.address)
    assert (acct["nonce"], acct["next_nonce"]) == (2, 2)
    assert node.receipt(res.results[1]["hash"])["height"] == 1


def test_restart_resumes_from_the_database(tmp_path: Path) -> None:
    net = make_devnet(2)
    node = _node(tmp_path, net)
    alice, bob = net.users
    fees = 0
    for i in range(3):
        tx = alice.transfer(bob.address, 10 * UNIT)
        fees += tx.fee
        node.submit_body(body(tx), "application/json")
        node.produce_block(1_000 + i)
    head, root = node.head.height, node.head.state_root
    node.db.close()
    again = _node(tmp_path, net)
    assert again.head.height == head and again.head.state_root == root
    assert again.account(alice.address)["balance"] == str(FUNDED - 30 * UNIT - fees)
    again.submit_body(body(alice.transfer(bob.address, 1)), "application/json")
    assert again.produce_block(2_000).block.header.height == head + 1


def test_a_second_node_fed_the_same_blocks_matches_at_every_height(tmp_path: Path) -> None:
    net = make_devnet(3)
    seq = _node(tmp_path, net, "seq.db")
    replica = _node(tmp_path, net, "replica.db", signer=False)
    users = net.users
    for h in range(1, 26):  # crosses epochs of 4 blocks, with stakes and unstakes
        txs = [users[h % 3].transfer(users[(h + 1) % 3].address, h * 1000)]
        if h % 5 == 0:
            txs.append(users[0].tx("stake", {"amount": str(h)}))
        if h % 7 == 0:
            txs.append(users[0].tx("unstake", {"amount": "1"}))
        assert all("hash" in r for r in seq.submit_body(body(*txs), "x").results)
        seq.produce_block(h)
        [raw] = seq.blocks(h, 1)["blocks"]
        replica.apply_block(parse_block(raw))
        assert replica.head.state_root == seq.head.state_root
        assert replica.head.hash_hex == seq.head.hash_hex
    assert replica.state.data == seq.state.data
    assert replica.status()["sync"] == "replica"
