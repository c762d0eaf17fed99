"""The node agent's memory: `$NNET_HOME/agent.db` (SQLite), so a restart resumes where it stopped.

    meta     key -> value: the address the agent acts for, the feed cursor, the last reward claim
    jobs     job id -> role (worker | verifier), stage, the deadline height of that stage, the
             job's fee, what this node earned from it, its outcome once settled
    actions  (job, kind) -> the signed transaction (hash and JSON), and whether it was sent,
             committed or refused

An action is recorded, fsynced, *before* its transaction is sent (as the consensus signing record
does for votes): after a kill -9 the agent finds the transaction it signed and sends that one
again, never a second, different one for the same (job, kind). The one exception is a transaction
that can never commit because its nonce went to another: `retire` moves it aside (kept, renamed)
so that the step may be signed anew. The file holds one address's work; another is refused.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnet.errors import UsageError
from nnet.store.sqlite import transaction

__all__ = ["Action", "AgentStore", "JobRow"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS jobs (job INTEGER PRIMARY KEY, role TEXT NOT NULL, "
    "stage TEXT NOT NULL, deadline INTEGER, fee TEXT NOT NULL DEFAULT '0', "
    "earned TEXT NOT NULL DEFAULT '0', outcome TEXT, updated_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS actions (job INTEGER NOT NULL, kind TEXT NOT NULL, "
    "tx_hash TEXT NOT NULL, tx TEXT NOT NULL, state TEXT NOT NULL, note TEXT, "
    "created_ms INTEGER NOT NULL, PRIMARY KEY (job, kind))",
)


@dataclass(frozen=True)
class Action:
    """One signed transaction of the agent's: (job, kind) names the step it takes."""

    job: int
    kind: str
    tx_hash: str
    tx: dict[str, Any]
    state: str  # signed | sent | committed | refused | retired
    note: str | None


@dataclass(frozen=True)
class JobRow:
    job: int
    role: str
    stage: str
    deadline: int | None
    fee: int
    earned: int
    outcome: str | None
    updated_ms: int


class AgentStore:
    """agent.db, opened for the agent acting for `address`."""

    def __init__(self, path: Path, address: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA busy_timeout=5000")
            with transaction(self.db):
                for statement in _SCHEMA:
                    self.db.execute(statement)
        except sqlite3.DatabaseError as e:
            raise UsageError(f"cannot open the agent's state {path}: {e}") from None
        owner = self.get_meta("address")
        if owner is None:
            self.set_meta("address", address)
        elif owner.lower() != address.lower():
            self.db.close()
            raise UsageError(
                f"{path} holds the work of {owner}, not of {address}",
                hint="give each key its own state file (--state), or run as that key",
                code="agent_state_other_key",
            )

    def close(self) -> None:
        self.db.close()

    # ---- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with transaction(self.db):
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ---- jobs ---------------------------------------------------------------------------------
    def put_job(
        self,
        job: int,
        role: str,
        stage: str,
        *,
        deadline: int | None = None,
        fee: int | None = None,
        earned: int | None = None,
        outcome: str | None = None,
    ) -> None:
        """Create or update the job's row; fields left None keep their value."""
        now = int(time.time() * 1000)
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO jobs (job, role, stage, deadline, fee, earned, outcome, updated_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job) DO UPDATE SET "
                "role = excluded.role, stage = excluded.stage, "
                "deadline = coalesce(excluded.deadline, deadline), "
                "fee = CASE WHEN ? THEN fee ELSE excluded.fee END, "
                "earned = CASE WHEN ? THEN earned ELSE excluded.earned END, "
                "outcome = coalesce(excluded.outcome, outcome), updated_ms = excluded.updated_ms",
                (
                    job,
                    role,
                    stage,
                    deadline,
                    str(fee or 0),
                    str(earned or 0),
                    outcome,
                    now,
                    fee is None,  # keep the stored value
                    earned is None,
                ),
            )

    def job(self, job: int) -> JobRow | None:
        row = self.db.execute("SELECT * FROM jobs WHERE job = ?", (job,)).fetchone()
        return None if row is None else _job_row(row)

    def jobs(self) -> list[JobRow]:
        """Every job the agent took part in, newest first."""
        return [_job_row(r) for r in self.db.execute("SELECT * FROM jobs ORDER BY job DESC")]

    def active_jobs(self) -> list[JobRow]:
        """Jobs not settled yet (no outcome), oldest first."""
        rows = self.db.execute("SELECT * FROM jobs WHERE outcome IS NULL ORDER BY job")
        return [_job_row(r) for r in rows]

    # ---- actions ------------------------------------------------------------------------------
    def action(self, job: int, kind: str) -> Action | None:
        row = self.db.execute(
            "SELECT job, kind, tx_hash, tx, state, note FROM actions WHERE job = ? AND kind = ?",
            (job, kind),
        ).fetchone()
        return None if row is None else _action(row)

    def actions(self, job: int | None = None) -> list[Action]:
        query = "SELECT job, kind, tx_hash, tx, state, note FROM actions"
        rows = (
            self.db.execute(query + " ORDER BY created_ms")
            if job is None
            else self.db.execute(query + " WHERE job = ? ORDER BY created_ms", (job,))
        )
        return [_action(r) for r in rows]

    def record(self, job: int, kind: str, tx_hash: str, tx: dict[str, Any]) -> None:
        """Record a signed transaction before it is sent; a second one for (job, kind) is refused
        (sqlite3.IntegrityError): the agent never signs two things for one step."""
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO actions (job, kind, tx_hash, tx, state, created_ms) "
                "VALUES (?, ?, ?, ?, 'signed', ?)",
                (job, kind, tx_hash, json.dumps(tx), int(time.time() * 1000)),
            )

    def mark(self, job: int, kind: str, state: str, note: str | None = None) -> None:
        with transaction(self.db):
            self.db.execute(
                "UPDATE actions SET state = ?, note = coalesce(?, note) WHERE job = ? AND kind = ?",
                (state, note, job, kind),
            )

    def retire(self, job: int, kind: str, why: str) -> None:
        """Set aside a transaction that can never commit (its nonce went to another), kept under
        another kind, so the step may be signed again."""
        with transaction(self.db):
            row = self.db.execute(
                "SELECT tx_hash FROM actions WHERE job = ? AND kind = ?", (job, kind)
            ).fetchone()
            if row is None:
                return
            self.db.execute(
                "UPDATE actions SET kind = ?, state = 'retired', note = ? "
                "WHERE job = ? AND kind = ?",
                (f"{kind}~{row[0][:18]}", why, job, kind),
            )


def _job_row(row: Any) -> JobRow:
    job, role, stage, deadline, fee, earned, outcome, updated_ms = row
    return JobRow(job, role, stage, deadline, int(fee), int(earned), outcome, updated_ms)


def _action(row: Any) -> Action:
    job, kind, tx_hash, tx, state, note = row
    return Action(int(job), str(kind), str(tx_hash), json.loads(tx), str(state), note)
