"""The one module that owns every table of the chain database, and its schema version.

    meta      key -> value: chain id, genesis (JSON), genesis hash
    blocks    height -> block hash, header JSON, tx count
    txs       tx hash -> height, index in block, tx JSON (as signed)
    receipts  tx hash -> height, index, type, sender, events JSON
    state     state key -> encoded value (the state after the head block; see chain/state.py)
    mempool   seq -> tx hash, tx JSON: admitted, not yet committed transactions (v2; node/core.py)

The version lives in SQLite's `user_version`. A later change adds a step to MIGRATIONS (from
version N to N+1); `migrate` runs the missing steps in one transaction (store/sqlite.py) on open.
A database newer than this code is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from nnet.errors import UsageError
from nnet.store.sqlite import transaction

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "get_schema_version", "migrate"]


def _create_v1(db: sqlite3.Connection) -> None:
    # statement by statement: executescript would COMMIT the migration's transaction early
    for statement in _V1.split(";"):
        if statement.strip():
            db.execute(statement)


_V1 = """
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE blocks (
            height   INTEGER PRIMARY KEY,
            hash     TEXT NOT NULL UNIQUE,
            header   TEXT NOT NULL,
            tx_count INTEGER NOT NULL
        );
        CREATE TABLE txs (
            hash   TEXT PRIMARY KEY,
            height INTEGER NOT NULL,
            idx    INTEGER NOT NULL,
            tx     TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX txs_by_position ON txs (height, idx);
        CREATE TABLE receipts (
            hash   TEXT PRIMARY KEY,
            height INTEGER NOT NULL,
            idx    INTEGER NOT NULL,
            type   TEXT NOT NULL,
            sender TEXT NOT NULL,
            events TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE state (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID;
"""


def _create_v2(db: sqlite3.Connection) -> None:
    """The mempool journal: a restarted node re-admits, in `seq` order, what it had accepted."""
    db.execute(
        "CREATE TABLE mempool "
        "(seq INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, tx TEXT NOT NULL)"
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create_v1, _create_v2]
"""MIGRATIONS[n] takes a database from version n to n + 1."""

SCHEMA_VERSION = len(MIGRATIONS)


def get_schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, path: str) -> None:
    """Bring the database to SCHEMA_VERSION, all steps in one transaction."""
    version = get_schema_version(db)
    if version > SCHEMA_VERSION:
        raise UsageError(
            f"{path} has schema version {version}; this nnet knows up to {SCHEMA_VERSION}",
            hint="upgrade nnet",
        )
    if version == SCHEMA_VERSION:
        return
    with transaction(db):
        # read again under the write lock: another process may have migrated meanwhile
        for step in MIGRATIONS[get_schema_version(db) :]:
            step(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
