"""The chain database's writes: the real error of a failed commit, and the mempool journal."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.chain.helpers import make_devnet

from nnet.chain.block import compute_genesis_block
from nnet.store.chaindb import ChainDB


def _open(tmp_path: Path):  # type: ignore[no-untyped-def]
    net = make_devnet(2, tag="writes")
    db = ChainDB(tmp_path / "chain.db")
    state, header, writes = compute_genesis_block(net.genesis)
    state.commit()
    db.init_genesis(net.genesis.to_dict(), header, writes)
    return net, db, state, header


class CommitFailsAfterRollingBack:
    """A connection whose COMMIT fails the way SQLite's may on a full disk or an I/O error:
    the transaction is already rolled back when the error comes."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            self._db.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_a_failed_commit_raises_its_own_error_not_the_rollbacks(tmp_path: Path) -> None:
    net, db, state, head = _open(tmp_path)
    alice, bob = net.users
    result = net.block(state, head, [alice.transfer(bob.address, 1)])
    real = db.db
    db.db = CommitFailsAfterRollingBack(real)  # type: ignore[assignment]
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        db.commit_block(result)
    db.db = real
    assert db.get_head_height() == 0 and not real.in_transaction
    db.commit_block(result)  # the same block goes in once there is room
    assert db.get_head_height() == 1


def test_a_full_database_refuses_the_block_whole_and_says_so(tmp_path: Path) -> None:
    net, db, state, head = _open(tmp_path)
    alice, bob = net.users
    pages = db.db.execute("PRAGMA page_count").fetchone()[0]
    db.db.execute(f"PRAGMA max_page_count = {pages}")  # a disk with no room left
    many = [alice.transfer(bob.address, i + 1) for i in range(200)]
    result = net.block(state, head, many)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        db.commit_block(result)
    assert db.get_head_height() == 0 and db.get_tx_height(many[0].hash_hex) is None
    assert not db.db.in_transaction
    db.db.execute(f"PRAGMA max_page_count = {pages * 100}")
    db.commit_block(result)
    assert db.get_tx_height(many[-1].hash_hex) == 1


def test_the_mempool_journal_keeps_order_and_a_block_clears_what_it_included(
    tmp_path: Path,
) -> None:
    net, db, state, head = _open(tmp_path)
    alice, bob = net.users
    txs = [alice.transfer(bob.address, 1) for _ in range(3)]
    db.journal_mempool([(t.hash_hex, "{}") for t in txs])
    db.journal_mempool([(txs[0].hash_hex, "{}")])  # again: kept once, in its first place
    assert [h for h, _ in db.get_mempool()] == [t.hash_hex for t in txs]
    db.journal_mempool(removed=[txs[2].hash_hex])
    db.commit_block(net.block(state, head, txs[:1]))
    assert [h for h, _ in db.get_mempool()] == [txs[1].hash_hex]
    db.close()
    assert [h for h, _ in ChainDB(tmp_path / "chain.db").get_mempool()] == [txs[1].hash_hex]
