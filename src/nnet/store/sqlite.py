"""One SQLite write transaction, written once: BEGIN IMMEDIATE, COMMIT, and ROLLBACK on failure.

Every write of the chain database goes through `transaction` (ChainDB.atomic_batch and the schema
migrations alike), so the rule below is stated in one place: on any failure the transaction is
rolled back, and the error that caused the failure is the one that goes up. A COMMIT that fails
on a full disk or an I/O error may have rolled back already; a second ROLLBACK would then raise
"no transaction is active" and hide the real error, so it is only tried while one is active,
and its own errors are suppressed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress

__all__ = ["transaction"]


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT on `db` (opened with isolation_level=None); on any failure,
    roll back and re-raise the original error."""
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
