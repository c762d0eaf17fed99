"""The chain database: schema version, atomic block commits, reopening, reads for the API."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.chain.helpers import make_devnet

from nnet.chain.block import build_block, compute_genesis_block
from nnet.chain.state import State
from nnet.errors import UsageError
from nnet.store.chaindb import ChainDB
from nnet.store.schema import SCHEMA_VERSION


def _open(tmp_path: Path, net):  # type: ignore[no-untyped-def]
    db = ChainDB(tmp_path / "chain.db")
    state, header, writes = compute_genesis_block(net.genesis)
    state.commit()
    db.init_genesis(net.genesis.to_dict(), header, writes)
    return db, state, header


def db_genesis_hash(net) -> str:  # type: ignore[no-untyped-def]
    return compute_genesis_block(net.genesis)[1].hash_hex


def test_schema_version_and_wal(tmp_path: Path) -> None:
    db = ChainDB(tmp_path / "chain.db")
    assert db.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    raw = sqlite3.connect(tmp_path / "chain.db")
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(UsageError, match="schema version"):
        ChainDB(tmp_path / "chain.db")


def test_not_a_database_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match="cannot open"):
        ChainDB(path)


def test_blocks_round_trip_and_state_reloads(tmp_path: Path) -> None:
    net = make_devnet(2)
    db, state, head = _open(tmp_path, net)
    alice, bob = net.users
    results = []
    for i in range(3):
        r = net.block(
            state, head, [alice.transfer(bob.address, 1 + i), bob.transfer(alice.address, 1)]
        )
        db.commit_block(r)
        head = r.block.header
        results.append(r)
    assert db.get_head_height() == 3
    assert db.get_header(3) == head
    block = db.get_block(2)
    assert block is not None and block["hash"] == results[1].block.header.hash_hex
    assert block["txs"] == [t.to_dict() for t in results[1].block.txs]
    assert [b["header"]["height"] for b in db.get_blocks(1, 2)] == [1, 2]
    assert db.get_blocks(4, 10) == []
    h = results[2].receipts[1]["hash"]
    receipt = db.get_receipt(h)
    assert receipt is not None
    assert receipt["status"] == "committed" and receipt["height"] == 3 and receipt["index"] == 1
    assert receipt["tx"] == results[2].block.txs[1].to_dict()
    assert db.get_tx_height(h) == 3
    genesis_hash = db.get_meta("genesis_hash")
    db.close()
    reopened = ChainDB(tmp_path / "chain.db")
    assert State(reopened.load_state()).data == state.data
    assert reopened.get_meta("genesis_hash") == genesis_hash == db_genesis_hash(net)
    assert reopened.check_integrity() == "ok"


def test_a_failing_commit_leaves_none_of_the_block(tmp_path: Path) -> None:
    net = make_devnet(2)
    db, state, head = _open(tmp_path, net)
    alice, bob = net.users
    state_before = db.load_state()
    result = build_block(
        state,
        head,
        [
            (t, t.signing_hash)
            for t in (alice.transfer(bob.address, 5), bob.transfer(alice.address, 6))
        ],
        time_ms=1,
        proposer=net.sequencer.address,
        secret=net.sequencer.secret,
        verified=False,
    )
    # poison the last statement of the transaction: writes come after header, txs and receipts
    result.writes.append(("account/" + alice.address, "\udcff"))  # unencodable: sqlite refuses
    with pytest.raises(UnicodeEncodeError):
        db.commit_block(result)
    assert db.get_head_height() == 0
    assert db.get_block(1) is None
    assert db.get_receipt(result.receipts[0]["hash"]) is None
    assert db.load_state() == state_before
    assert db.check_integrity() == "ok"
