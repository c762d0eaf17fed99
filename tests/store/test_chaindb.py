"""The chain database on plain rows: schema version, atomic batches, reopening, reads for the API.

(Blocks as the chain builds them, stored and loaded back: tests/node/test_storage.py.)
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from nnet.encoding import to_json_line
from nnet.errors import UsageError
from nnet.store import schema
from nnet.store.chaindb import ChainDB
from nnet.store.schema import MIGRATIONS, SCHEMA_VERSION


def header(height: int) -> dict[str, Any]:
    return {"chain": "test", "height": height, "prev": f"0x{height - 1:064x}"}


def tx_row(height: int, i: int) -> tuple[str, str]:
    return f"0x{height:032x}{i:032x}", to_json_line({"n": i, "at": height, "text": "é"})


def receipt(tx_hash: str, i: int) -> dict[str, Any]:
    return {"hash": tx_hash, "index": i, "type": "transfer", "from": "0xabc", "events": [i]}


def put(db: ChainDB, height: int, n_txs: int, state: list[tuple[str, str | None]]) -> None:
    txs = [tx_row(height, i) for i in range(n_txs)]
    with db.atomic_batch() as batch:
        batch.put_block(height, f"0x{height:064x}", to_json_line(header(height)), txs)
        batch.put_receipts(height, [receipt(h, i) for i, (h, _) in enumerate(txs)])
        batch.write_state(state)


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


def test_an_older_database_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    raw = sqlite3.connect(tmp_path / "chain.db", isolation_level=None)
    MIGRATIONS[0](raw)  # a version-1 database: no mempool journal yet
    raw.execute("PRAGMA user_version = 1")
    raw.execute("INSERT INTO meta (key, value) VALUES ('chain', 'old')")
    raw.close()
    db = ChainDB(tmp_path / "chain.db")
    assert db.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.get_meta("chain") == "old" and db.get_mempool() == []


def test_a_failing_migration_leaves_the_database_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half (x)")
        raise sqlite3.OperationalError("the step failed")

    raw = sqlite3.connect(tmp_path / "chain.db", isolation_level=None)
    MIGRATIONS[0](raw)
    raw.execute("PRAGMA user_version = 1")
    raw.close()
    monkeypatch.setattr(schema, "MIGRATIONS", [MIGRATIONS[0], broken])
    with pytest.raises(UsageError, match="the step failed"):
        ChainDB(tmp_path / "chain.db")
    raw = sqlite3.connect(tmp_path / "chain.db")
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    tables = {n for (n,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half" not in tables and "mempool" not in tables


def test_not_a_database_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match="cannot open"):
        ChainDB(path)


def test_rows_round_trip_as_plain_data_and_survive_a_reopen(tmp_path: Path) -> None:
    db = ChainDB(tmp_path / "chain.db")
    with db.atomic_batch() as batch:
        batch.put_meta([("chain", "test"), ("genesis_hash", "0x00")])
    put(db, 0, 0, [("a", "1"), ("b", '"x"')])
    for height in (1, 2, 3):
        put(db, height, height, [("a", str(height)), ("b", None), (f"k{height}", "[]")])
    assert db.get_head_height() == 3
    assert db.get_header_dict(2) == header(2) and db.get_header_dict(9) is None
    block = db.get_block(2)
    assert block is not None and block["hash"] == f"0x{2:064x}"
    assert block["txs"] == [json.loads(tx_row(2, i)[1]) for i in range(2)]
    assert db.get_block_tx_texts(3) == [tx_row(3, i)[1] for i in range(3)]
    assert [(h, n) for h, _, _, n in db.get_block_rows(1, 2)] == [(1, 1), (2, 2)]
    assert [b["header"]["height"] for b in db.get_blocks(1, 2)] == [1, 2]
    assert db.get_blocks(4, 10) == []
    tx_hash = tx_row(3, 1)[0]
    got = db.get_receipt(tx_hash)
    assert got is not None and got["status"] == "committed"
    assert (got["height"], got["index"], got["events"]) == (3, 1, [1])
    assert got["tx"] == json.loads(tx_row(3, 1)[1])
    assert db.get_tx_height(tx_hash) == 3 and db.get_tx_height("0x00") is None
    state = {"a": "3", "k1": "[]", "k2": "[]", "k3": "[]"}
    assert db.get_state() == state  # "b" was deleted by a None write
    db.close()
    reopened = ChainDB(tmp_path / "chain.db")
    assert reopened.get_state() == state and reopened.get_meta("chain") == "test"
    assert reopened.check_integrity() == "ok"


def test_a_batch_that_fails_leaves_none_of_its_writes(tmp_path: Path) -> None:
    db = ChainDB(tmp_path / "chain.db")
    put(db, 0, 0, [("a", "1")])
    with pytest.raises(UnicodeEncodeError):
        # the last write of the batch fails: what came before it must go too
        put(db, 1, 2, [("a", "2"), ("b", "\udcff")])  # unencodable: sqlite refuses
    assert db.get_head_height() == 0 and db.get_block(1) is None
    assert db.get_receipt(tx_row(1, 0)[0]) is None
    assert db.get_state() == {"a": "1"}
    with pytest.raises(KeyError), db.atomic_batch() as batch:
        batch.write_state([("a", "3")])
        raise KeyError("any error, ours or the caller's")
    assert db.get_state() == {"a": "1"} and not db.db.in_transaction
    assert db.check_integrity() == "ok"


def test_evidence_is_kept_once_per_height(tmp_path: Path) -> None:
    db = ChainDB(tmp_path / "chain.db")
    db.put_evidence(5, header(5), {"other": 1})
    db.put_evidence(5, header(5), {"other": 2})  # never overwritten
    db.put_evidence(2, header(2), {"other": 3})
    assert [(e["height"], e["headers"][1]) for e in db.get_evidence()] == [
        (2, {"other": 3}),
        (5, {"other": 1}),
    ]
