"""The chain database (SQLite): blocks, transactions, receipts and state, one block per transaction.

The database stores and returns plain data: JSON text and dicts, strings and integers. It knows
nothing of the chain's objects; node/storage.py converts a Block, Header or BlockResult into the
rows written here and back (py-evm's storage interface: a small database behind `atomic_batch`).

Every write goes through `atomic_batch()`: one SQLite transaction (store/sqlite.py: BEGIN
IMMEDIATE, COMMIT, and ROLLBACK on failure, never hiding the error that caused it), whose writes
are the methods of the `ChainBatch` it yields. A block's header, transactions, receipts and state
writes go in one batch, so after a crash the database holds the whole block or none of it. The
journal is WAL; `synchronous=FULL` by default, so a block whose batch has returned survives power
loss as well as a killed process (one fsync per block, not per transaction). A receipt is
reported "committed" only after that batch returned.

The `mempool` table journals admitted transactions (node/core.py writes them before answering
202), so a restarted node re-admits what it had accepted. Those batches use synchronous=NORMAL:
they survive a killed process, not a power cut (the block commits that follow fsync them too);
a committed block deletes its transactions from the journal in the same batch.

Tables are owned by schema.py. The connection is used from one thread (the daemon's event loop).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nnet.encoding import to_json_line
from nnet.errors import UsageError
from nnet.store.schema import migrate
from nnet.store.sqlite import transaction

__all__ = ["ChainBatch", "ChainDB"]


class ChainBatch:
    """The writes of one atomic batch (`ChainDB.atomic_batch`), as plain rows."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def put_meta(self, items: Iterable[tuple[str, str]]) -> None:
        """New meta rows (chain id, genesis, genesis hash); a key already there is an error."""
        self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(items))

    def put_block(
        self, height: int, block_hash: str, header: str, txs: Sequence[tuple[str, str]]
    ) -> None:
        """A block: its hash, its header's JSON text and its (hash, tx JSON text) in order."""
        self._db.execute(
            "INSERT INTO blocks (height, hash, header, tx_count) VALUES (?, ?, ?, ?)",
            (height, block_hash, header, len(txs)),
        )
        self._db.executemany(
            "INSERT INTO txs (hash, height, idx, tx) VALUES (?, ?, ?, ?)",
            [(tx_hash, height, i, text) for i, (tx_hash, text) in enumerate(txs)],
        )

    def put_receipts(self, height: int, receipts: Iterable[Mapping[str, Any]]) -> None:
        """The receipts of the block at `height`: {"hash", "index", "type", "from", "events"}."""
        self._db.executemany(
            "INSERT INTO receipts (hash, height, idx, type, sender, events) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (r["hash"], height, r["index"], r["type"], r["from"], to_json_line(r["events"]))
                for r in receipts
            ],
        )

    def write_state(self, writes: Sequence[tuple[str, str | None]]) -> None:
        """Set each key to its encoded value; a value of None deletes the key."""
        self._db.executemany(
            "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
            [(k, v) for k, v in writes if v is not None],
        )
        self._db.executemany(
            "DELETE FROM state WHERE key = ?", [(k,) for k, v in writes if v is None]
        )

    def journal_mempool(
        self, added: Iterable[tuple[str, str]] = (), removed: Iterable[str] = ()
    ) -> None:
        """Drop the `removed` hashes from the mempool journal and record the `added` (hash, tx
        JSON text) after what it holds (a hash already there keeps its place)."""
        self._db.executemany("DELETE FROM mempool WHERE hash = ?", [(h,) for h in removed])
        self._db.executemany("INSERT OR IGNORE INTO mempool (hash, tx) VALUES (?, ?)", added)

    def put_evidence(self, height: int, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
        """Two headers the sequencer signed at one height (kept; never overwritten)."""
        self._db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
            (f"evidence/{height}", to_json_line({"height": height, "headers": [ours, theirs]})),
        )


class ChainDB:
    """One node's chain database."""

    def __init__(self, path: Path | str, *, synchronous: str = "FULL") -> None:
        self.path = str(path)
        self.synchronous = synchronous
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            migrate(self.db, self.path)
        except sqlite3.DatabaseError as e:
            raise UsageError(f"cannot open chain database {self.path}: {e}") from None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def atomic_batch(self, *, synchronous: str | None = None) -> Iterator[ChainBatch]:
        """One SQLite transaction: every write of the batch lands, or (on any error) none does,
        and the error that caused it goes up. `synchronous` sets the durability of this one
        batch (then back to the database's default)."""
        db = self.db
        if synchronous:
            db.execute(f"PRAGMA synchronous={synchronous}")
        try:
            with transaction(db):
                yield ChainBatch(db)
        finally:
            if synchronous:
                db.execute(f"PRAGMA synchronous={self.synchronous}")

    # ---- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def get_meta_before(self, prefix: str, key: str) -> tuple[str, str] | None:
        """The meta row with the greatest key <= prefix + `key` among those starting with
        `prefix` (keys ordered as text: give numbers a fixed width)."""
        row = self.db.execute(
            "SELECT key, value FROM meta WHERE key >= ? AND key <= ? ORDER BY key DESC LIMIT 1",
            (prefix, prefix + key),
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    # ---- the mempool journal ------------------------------------------------------------------
    def journal_mempool(
        self, added: Iterable[tuple[str, str]] = (), removed: Iterable[str] = ()
    ) -> None:
        """Record admitted (hash, tx JSON) and drop evicted hashes, in one batch that survives a
        killed process (synchronous=NORMAL: no fsync of its own)."""
        added, removed = list(added), list(removed)
        if not added and not removed:
            return
        with self.atomic_batch(synchronous="NORMAL") as batch:
            batch.journal_mempool(added, removed)

    def get_mempool(self) -> list[tuple[str, str]]:
        """(hash, tx JSON) of every journaled pending transaction, in admission order."""
        return [
            (str(h), str(t))
            for h, t in self.db.execute("SELECT hash, tx FROM mempool ORDER BY seq")
        ]

    def get_head_height(self) -> int | None:
        row = self.db.execute("SELECT MAX(height) FROM blocks").fetchone()
        return None if row[0] is None else int(row[0])

    def get_header_dict(self, height: int) -> dict[str, Any] | None:
        """The header of the block at `height`, its JSON decoded."""
        row = self.db.execute("SELECT header FROM blocks WHERE height = ?", (height,)).fetchone()
        if row is None:
            return None
        header: dict[str, Any] = json.loads(row[0])
        return header

    def get_block(self, height: int) -> dict[str, Any] | None:
        """A block as the API serves it: {"header", "hash", "txs"}."""
        row = self.db.execute(
            "SELECT hash, header FROM blocks WHERE height = ?", (height,)
        ).fetchone()
        if row is None:
            return None
        txs = [
            json.loads(t)
            for (t,) in self.db.execute(
                "SELECT tx FROM txs WHERE height = ? ORDER BY idx", (height,)
            )
        ]
        return {"header": json.loads(row[1]), "hash": row[0], "txs": txs}

    def get_blocks(self, start: int, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` consecutive blocks from height `start` (for sync and replay)."""
        rows = self.db.execute(
            "SELECT height, hash, header FROM blocks WHERE height >= ? ORDER BY height LIMIT ?",
            (start, limit),
        ).fetchall()
        if not rows:
            return []
        by_height: dict[int, list[Any]] = {r[0]: [] for r in rows}
        for height, tx in self.db.execute(
            "SELECT height, tx FROM txs WHERE height BETWEEN ? AND ? ORDER BY height, idx",
            (rows[0][0], rows[-1][0]),
        ):
            by_height[height].append(json.loads(tx))
        return [
            {"header": json.loads(header), "hash": bh, "txs": by_height[height]}
            for height, bh, header in rows
        ]

    def get_block_rows(self, start: int, limit: int) -> list[tuple[int, str, str, int]]:
        """(height, hash, header JSON text, tx count) of up to `limit` blocks from `start`, as
        stored: a page of blocks is built from these texts without decoding them."""
        return [
            (int(height), str(bh), str(header), int(count))
            for height, bh, header, count in self.db.execute(
                "SELECT height, hash, header, tx_count FROM blocks WHERE height >= ? "
                "ORDER BY height LIMIT ?",
                (start, limit),
            )
        ]

    def get_block_tx_texts(self, height: int) -> list[str]:
        """The JSON text of a block's transactions, in block order, as stored (as signed)."""
        return [
            str(t)
            for (t,) in self.db.execute(
                "SELECT tx FROM txs WHERE height = ? ORDER BY idx", (height,)
            )
        ]

    # ---- transactions and state ---------------------------------------------------------------
    def get_tx_height(self, tx_hash: str) -> int | None:
        row = self.db.execute("SELECT height FROM txs WHERE hash = ?", (tx_hash,)).fetchone()
        return None if row is None else int(row[0])

    def get_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        """{"hash", "status": "committed", "height", "index", "type", "from", "events", "tx"}."""
        row = self.db.execute(
            "SELECT r.height, r.idx, r.type, r.sender, r.events, t.tx FROM receipts r "
            "JOIN txs t ON t.hash = r.hash WHERE r.hash = ?",
            (tx_hash,),
        ).fetchone()
        if row is None:
            return None
        return {
            "hash": tx_hash,
            "status": "committed",
            "height": row[0],
            "index": row[1],
            "type": row[2],
            "from": row[3],
            "events": json.loads(row[4]),
            "tx": json.loads(row[5]),
        }

    def get_receipt_rows(
        self, height: int, index: int, limit: int
    ) -> list[tuple[int, int, str, str]]:
        """(height, index, tx hash, events JSON text) of up to `limit` committed transactions
        from position (height, index) on, in chain order (the event feed, node/events_api.py)."""
        return [
            (int(h), int(i), str(tx_hash), str(events))
            for h, i, tx_hash, events in self.db.execute(
                "SELECT t.height, t.idx, t.hash, r.events FROM txs t "
                "JOIN receipts r ON r.hash = t.hash "
                "WHERE t.height >= ? AND (t.height > ? OR t.idx >= ?) "
                "ORDER BY t.height, t.idx LIMIT ?",
                (height, height, index, limit),
            )
        ]

    def put_evidence(self, height: int, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
        """Two headers the sequencer signed at one height (kept; never overwritten)."""
        with self.atomic_batch() as batch:
            batch.put_evidence(height, ours, theirs)

    def get_evidence(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT value FROM meta WHERE key LIKE 'evidence/%'").fetchall()
        return sorted((json.loads(v) for (v,) in rows), key=lambda e: int(e["height"]))

    def get_state(self) -> dict[str, str]:
        """The whole state after the head block: key -> encoded value, as stored."""
        return {str(k): str(v) for k, v in self.db.execute("SELECT key, value FROM state")}

    def check_integrity(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])
