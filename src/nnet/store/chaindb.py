"""The chain database (SQLite): blocks, transactions, receipts and state, one block per transaction.

`commit_block` writes a block's header, its transactions, their receipts and the block's state
writes inside one SQLite transaction, so after a crash the database holds the whole block or none
of it. The journal is WAL; `synchronous=FULL` by default, so a block whose commit has returned
survives power loss as well as a killed process (one fsync per block, not per transaction).
A receipt is reported "committed" only after that commit returned.

The `mempool` table journals admitted transactions (node/core.py writes them before answering
202), so a restarted node re-admits what it had accepted. Those writes use synchronous=NORMAL:
they survive a killed process, not a power cut (the block commits that follow fsync them too);
a committed block deletes its transactions from the journal in the same SQLite transaction.

Every write goes through `_transaction`: BEGIN IMMEDIATE, COMMIT, and on any failure a ROLLBACK
that never hides the error that caused it (a COMMIT that fails on a full disk may have rolled
back already; a second ROLLBACK would then raise "no transaction is active" instead).

Tables are owned by schema.py. The connection is used from one thread (the daemon's event loop).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from nnet.chain.block import BlockResult, Header
from nnet.chain.state import decode_value
from nnet.encoding import to_json_line
from nnet.errors import UsageError
from nnet.store.schema import migrate

__all__ = ["ChainDB"]


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
    def _transaction(self, *, synchronous: str | None = None) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; on failure, roll back and re-raise the original error.

        `synchronous` sets the durability of this one transaction (then back to the default)."""
        db = self.db
        if synchronous:
            db.execute(f"PRAGMA synchronous={synchronous}")
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    # the error that got us here is the one to report, not the rollback's
                    with suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise
        finally:
            if synchronous:
                db.execute(f"PRAGMA synchronous={self.synchronous}")

    # ---- genesis and meta -----------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def init_genesis(
        self, genesis: dict[str, Any], header: Header, writes: list[tuple[str, str | None]]
    ) -> None:
        """Store the genesis block (height 0) and the genesis state, atomically."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("chain", header.chain),
                    ("genesis", to_json_line(genesis)),
                    ("genesis_hash", header.hash_hex),
                ],
            )
            db.execute(
                "INSERT INTO blocks (height, hash, header, tx_count) VALUES (?, ?, ?, 0)",
                (0, header.hash_hex, to_json_line(header.to_dict())),
            )
            db.executemany(
                "INSERT INTO state (key, value) VALUES (?, ?)",
                [(k, v) for k, v in writes if v is not None],
            )

    # ---- blocks -----------------------------------------------------------------------------
    def commit_block(self, result: BlockResult) -> None:
        """Persist a block with its txs, receipts and state writes in one SQLite transaction."""
        block = result.block
        h = block.header
        height = h.height
        with self._transaction() as db:
            db.execute(
                "INSERT INTO blocks (height, hash, header, tx_count) VALUES (?, ?, ?, ?)",
                (height, h.hash_hex, to_json_line(h.to_dict()), len(block.txs)),
            )
            hashes = ["0x" + th.hex() for th in block.tx_hashes]
            db.executemany(
                "INSERT INTO txs (hash, height, idx, tx) VALUES (?, ?, ?, ?)",
                [
                    (hx, height, i, to_json_line(tx.to_dict()))
                    for i, (hx, tx) in enumerate(zip(hashes, block.txs, strict=True))
                ],
            )
            db.executemany(
                "INSERT INTO receipts (hash, height, idx, type, sender, events) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (r["hash"], height, r["index"], r["type"], r["from"], to_json_line(r["events"]))
                    for r in result.receipts
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                [(k, v) for k, v in result.writes if v is not None],
            )
            db.executemany(
                "DELETE FROM state WHERE key = ?", [(k,) for k, v in result.writes if v is None]
            )
            db.executemany("DELETE FROM mempool WHERE hash = ?", [(hx,) for hx in hashes])

    # ---- the mempool journal ------------------------------------------------------------------
    def journal_mempool(
        self, added: Iterable[tuple[str, str]] = (), removed: Iterable[str] = ()
    ) -> None:
        """Record admitted (hash, tx JSON) and drop evicted hashes, in one transaction that
        survives a killed process (synchronous=NORMAL: no fsync of its own)."""
        added, removed = list(added), list(removed)
        if not added and not removed:
            return
        with self._transaction(synchronous="NORMAL") as db:
            db.executemany("DELETE FROM mempool WHERE hash = ?", [(h,) for h in removed])
            db.executemany("INSERT OR IGNORE INTO mempool (hash, tx) VALUES (?, ?)", added)

    def get_mempool(self) -> list[tuple[str, str]]:
        """(hash, tx JSON) of every journaled pending transaction, in admission order."""
        return [
            (str(h), str(t))
            for h, t in self.db.execute("SELECT hash, tx FROM mempool ORDER BY seq")
        ]

    def get_head_height(self) -> int | None:
        row = self.db.execute("SELECT MAX(height) FROM blocks").fetchone()
        return None if row[0] is None else int(row[0])

    def get_header(self, height: int) -> Header | None:
        row = self.db.execute("SELECT header FROM blocks WHERE height = ?", (height,)).fetchone()
        return None if row is None else Header(**json.loads(row[0]))

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

    def put_evidence(self, height: int, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
        """Two headers the sequencer signed at one height (kept; never overwritten)."""
        self.db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
            (f"evidence/{height}", to_json_line({"height": height, "headers": [ours, theirs]})),
        )

    def get_evidence(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT value FROM meta WHERE key LIKE 'evidence/%'").fetchall()
        return sorted((json.loads(v) for (v,) in rows), key=lambda e: int(e["height"]))

    def load_state(self) -> dict[str, Any]:
        """The whole state after the head block, decoded."""
        return {k: decode_value(v) for k, v in self.db.execute("SELECT key, value FROM state")}

    def check_integrity(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])
