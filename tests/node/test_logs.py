"""The daemon's logs: refusal bursts, JSON lines, one line per block, and a full disk logged once
per burst while reads keep being served (SQLite's max_page_count fills the database for real)."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import cast

import httpx
import pytest
from starlette.requests import Request
from starlette.routing import Route

from nnet.node.app import make_app
from nnet.node.core import Node
from nnet.node.logs import JsonFormatter, RefusalLog
from tests.node.conftest import RunningNode


def test_refusals_are_logged_as_one_line_per_burst(caplog: pytest.LogCaptureFixture) -> None:
    refusals = RefusalLog(logging.getLogger("nnet.http.test"))
    with caplog.at_level(logging.INFO, logger="nnet.http.test"):
        for _ in range(1000):
            refusals.record("bad_nonce")
        refusals.record("fee_too_low")
        refusals.flush()
        refusals.flush()  # nothing new: no line
    lines = [r for r in caplog.records if r.name == "nnet.http.test"]
    assert len(lines) == 1
    assert "refused 1001 transactions" in lines[0].getMessage()
    assert "bad_nonce=1000 fee_too_low=1" in lines[0].getMessage()


def test_json_lines_carry_level_logger_and_fields() -> None:
    record = logging.LogRecord("nnet.block", logging.INFO, __file__, 1, "block %d", (7,), None)
    record.height = 7
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "info" and line["logger"] == "nnet.block"
    assert line["msg"] == "block 7" and line["height"] == 7 and line["ts"].endswith("Z")


def test_one_line_per_block_produced(
    running: RunningNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nnet.block")
    alice, bob = running.users[0], running.users[1]
    r = running.http.post("/txs", json=alice.transfer(bob.address, 1).to_dict())
    receipt = running.wait_committed(r.json()["results"][0]["hash"])
    time.sleep(0.1)
    lines = [r for r in caplog.records if getattr(r, "height", None) == receipt["height"]]
    assert len(lines) == 1
    assert vars(lines[0])["txs"] == 1 and vars(lines[0])["event"] == "block_produced"


def test_disk_full_is_logged_once_and_reads_keep_being_served(
    running: RunningNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nnet.block")
    db = running.daemon.db.db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # the database can grow no more: SQLITE_FULL
    alice, bob = running.users[0], running.users[1]
    failures = running.daemon.metrics.block_failures
    try:
        for i in range(3):  # fill the free pages too, so producing fails
            running.http.post("/txs", json=alice.transfer(bob.address, 1 + i).to_dict())
        deadline = time.monotonic() + 10
        while failures._value.get() < 5:
            assert time.monotonic() < deadline, "block production never failed"
            time.sleep(0.02)
        assert running.http.get("/status").status_code == 200  # reads are served
        health = running.http.get("/health").json()
        assert "disk full" in health["last_error"]
    finally:
        db.execute("PRAGMA max_page_count = 1073741823")
    height = running.node.head.height
    deadline = time.monotonic() + 10
    while running.node.head.height == height or running.node.mempool:
        assert time.monotonic() < deadline, "block production did not recover"
        time.sleep(0.02)
    failing = [r for r in caplog.records if getattr(r, "event", "") == "production_failing"]
    recovered = [r for r in caplog.records if getattr(r, "event", "") == "production_recovered"]
    assert len(failing) == 1 and vars(failing[0])["disk_full"]
    assert len(recovered) == 1


def running_node_stub() -> Node:
    """make_app only needs a node for its own routes; /boom never touches it."""
    return cast(Node, object())


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), 507, "disk_full"),
        (sqlite3.OperationalError("database or disk is full"), 507, "disk_full"),
        (OSError(errno.EACCES, "Permission denied"), 500, "internal"),
        (sqlite3.OperationalError("database is locked"), 500, "internal"),
    ],
)
def test_storage_errors_answer_507_or_500(exc: Exception, status: int, code: str) -> None:
    app = make_app(running_node_stub(), extra_routes=[Route("/boom", _raiser(exc))])

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://127.0.0.1",
        ) as client:
            return await client.get("/boom")

    r = asyncio.run(get())
    assert (r.status_code, r.json()["code"]) == (status, code)


def _raiser(exc: Exception) -> Callable[[Request], Awaitable[None]]:
    async def boom(request: Request) -> None:
        raise exc

    return boom
