"""The chain database's writes: the real error of a failed commit, and the mempool journal."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.store.test_chaindb import put, tx_row

from nnet.store.chaindb import ChainDB


def _open(tmp_path: Path) -> ChainDB:
    db = ChainDB(tmp_path / "chain.db")
    put(db, 0, 0, [("a", "1")])
    return db


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
    db = _open(tmp_path)
    real = db.db
    db.db = CommitFailsAfterRollingBack(real)  # type: ignore[assignment]
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        put(db, 1, 1, [("a", "2")])
    db.db = real
    assert db.get_head_height() == 0 and not real.in_transaction
    put(db, 1, 1, [("a", "2")])  # the same block goes in once there is room
    assert db.get_head_height() == 1 and db.get_state() == {"a": "2"}


def test_a_full_database_refuses_the_block_whole_and_says_so(tmp_path: Path) -> None:
    db = _open(tmp_path)
    pages = db.db.execute("PRAGMA page_count").fetchone()[0]
    db.db.execute(f"PRAGMA max_page_count = {pages}")  # a disk with no room left
    with pytest.raises(sqlite3.OperationalError, match="full"):
        put(db, 1, 200, [("a", "2")])
    assert db.get_head_height() == 0 and db.get_tx_height(tx_row(1, 0)[0]) is None
    assert not db.db.in_transaction
    db.db.execute(f"PRAGMA max_page_count = {pages * 100}")
    put(db, 1, 200, [("a", "2")])
    assert db.get_tx_height(tx_row(1, 199)[0]) == 1


def test_the_mempool_journal_keeps_order_and_a_batch_clears_what_it_names(
    tmp_path: Path,
) -> None:
    db = _open(tmp_path)
    hashes = [f"0x{i:064x}" for i in range(3)]
    db.journal_mempool([(h, "{}") for h in hashes])
    db.journal_mempool([(hashes[0], "{}")])  # again: kept once, in its first place
    assert [h for h, _ in db.get_mempool()] == hashes
    db.journal_mempool(removed=[hashes[2]])
    with db.atomic_batch() as batch:
        batch.journal_mempool(removed=hashes[:1])
    assert [h for h, _ in db.get_mempool()] == [hashes[1]]
    db.close()
    assert [h for h, _ in ChainDB(tmp_path / "chain.db").get_mempool()] == [hashes[1]]


def test_the_journal_batch_is_not_fsynced_and_the_default_comes_back(tmp_path: Path) -> None:
    db = _open(tmp_path)
    seen: list[int] = []
    real = db.db

    class Spy:
        def execute(self, sql: str, *args: Any) -> Any:
            if sql == "BEGIN IMMEDIATE":
                seen.append(real.execute("PRAGMA synchronous").fetchone()[0])
            return real.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    db.db = Spy()  # type: ignore[assignment]
    db.journal_mempool([("0x01", "{}")])
    put(db, 1, 0, [])
    db.db = real
    assert seen == [1, 2]  # NORMAL for the journal, FULL (the default) for a block
    assert real.execute("PRAGMA synchronous").fetchone()[0] == 2
