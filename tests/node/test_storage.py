"""The chain's objects through the chain database: blocks, receipts and state stored and loaded
back, and a block that fails to store leaves none of itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnet.chain.block import BlockResult, Header, build_block, compute_genesis_block
from nnet.chain.state import State
from nnet.node.storage import load_header, load_state, store_block, store_genesis
from nnet.store.chaindb import ChainDB
from tests.chain.helpers import Devnet, make_devnet


def _open(tmp_path: Path, net: Devnet) -> tuple[ChainDB, State, Header]:
    db = ChainDB(tmp_path / "chain.db")
    state, header, writes = compute_genesis_block(net.genesis)
    state.commit()
    store_genesis(db, net.genesis, header, writes)
    return db, state, header


def test_genesis_blocks_and_state_round_trip_through_the_database(tmp_path: Path) -> None:
    net = make_devnet(2)
    db, state, head = _open(tmp_path, net)
    genesis_hash = head.hash_hex
    assert load_header(db, 0) == head and load_state(db) == state.data
    alice, bob = net.users
    results: list[BlockResult] = []
    for i in range(3):
        r = net.block(
            state, head, [alice.transfer(bob.address, 1 + i), bob.transfer(alice.address, 1)]
        )
        store_block(db, r)
        head = r.block.header
        results.append(r)
    assert db.get_head_height() == 3
    assert load_header(db, 3) == head and load_header(db, 4) is None
    block = db.get_block(2)
    assert block is not None and block["hash"] == results[1].block.header.hash_hex
    assert block["txs"] == [t.to_dict() for t in results[1].block.txs]
    h = results[2].receipts[1]["hash"]
    receipt = db.get_receipt(h)
    assert receipt is not None
    assert receipt["status"] == "committed" and receipt["height"] == 3 and receipt["index"] == 1
    assert receipt["tx"] == results[2].block.txs[1].to_dict()
    assert receipt["events"] == results[2].receipts[1]["events"]
    db.close()
    reopened = ChainDB(tmp_path / "chain.db")
    assert State(load_state(reopened)).data == state.data
    assert reopened.get_meta("genesis_hash") == genesis_hash
    assert reopened.get_meta("chain") == net.genesis.chain
    assert reopened.check_integrity() == "ok"


def test_a_block_that_fails_to_store_leaves_none_of_itself(tmp_path: Path) -> None:
    net = make_devnet(2)
    db, state, head = _open(tmp_path, net)
    alice, bob = net.users
    state_before = load_state(db)
    txs = [alice.transfer(bob.address, 5), bob.transfer(alice.address, 6)]
    db.journal_mempool([(t.hash_hex, "{}") for t in txs])
    result = build_block(
        state,
        head,
        [(t, t.signing_hash) for t in txs],
        time_ms=1,
        proposer=net.sequencer.address,
        secret=net.sequencer.secret,
        verified=False,
    )
    # poison the state writes: they come after the header, the txs and the receipts
    result.writes.append(("account/" + alice.address, "\udcff"))  # unencodable: sqlite refuses
    with pytest.raises(UnicodeEncodeError):
        store_block(db, result)
    assert db.get_head_height() == 0
    assert db.get_block(1) is None
    assert db.get_receipt(result.receipts[0]["hash"]) is None
    assert load_state(db) == state_before
    assert [h for h, _ in db.get_mempool()] == [t.hash_hex for t in txs]  # still pending
    result.writes.pop()
    store_block(db, result)
    assert db.get_head_height() == 1 and db.get_mempool() == []
    assert db.check_integrity() == "ok"
