"""GET /events against a real daemon: every committed receipt event in chain order, pages that
resume from `next` without loss or repeat, a long-poll that answers when a block commits (and
not before), and refusals of malformed parameters."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from nnet.client import NodeClient
from nnet.encoding import UNIT
from nnet.node.events_api import parse_cursor
from tests.node.conftest import RunningNode


def _transfers(running: RunningNode, n: int) -> list[str]:
    """n committed transfers from user 0 to user 1 (each receipt has fee and transfer events)."""
    sender, to = running.users[0], running.users[1]
    hashes = []
    for _ in range(n):
        tx = sender.transfer(to.address, UNIT)
        r = running.http.post("/txs", json=tx.to_dict())
        assert r.status_code == 202, r.text
        hashes.append(r.json()["results"][0]["hash"])
    for h in hashes:
        running.wait_committed(h)
    return hashes


def _all_receipt_events(running: RunningNode, hashes: list[str]) -> list[dict[str, Any]]:
    out = []
    for h in hashes:
        receipt = running.http.get(f"/txs/{h}").json()
        for event in receipt["events"]:
            out.append({**event, "height": receipt["height"], "index": receipt["index"], "tx": h})
    return sorted(out, key=lambda e: (e["height"], e["index"]))


def test_events_are_every_receipt_event_in_order_and_pages_resume(running: RunningNode) -> None:
    hashes = _transfers(running, 5)
    want = _all_receipt_events(running, hashes)
    assert {e["type"] for e in want} >= {"transfer"}
    whole = running.http.get("/events", params={"limit": 1000}).json()
    assert whole["events"] == want
    assert whole["next"] == str(whole["head"] + 1)  # caught up: the height after the head
    got: list[dict[str, Any]] = []
    cursor = "1"
    for _ in range(100):  # pages of 2 events: they split receipts, and still lose nothing
        page = running.http.get("/events", params={"after": cursor, "limit": 2}).json()
        got += page["events"]
        cursor = page["next"]
        if not page["events"]:
            break
    assert got == want
    later = running.http.get("/events", params={"from": str(want[-1]["height"] + 1)}).json()
    assert later["events"] == []


def test_a_long_poll_waits_for_the_next_block(running: RunningNode) -> None:
    head = running.http.get("/status").json()["height"]
    answered: dict[str, Any] = {}

    def poll() -> None:
        start = time.monotonic()
        r = running.http.get("/events", params={"from": head + 1, "wait": 10}, timeout=20)
        answered.update(r.json(), seconds=time.monotonic() - start)

    # an idle devnet makes no block for a while: a transfer makes the next one
    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.3)
    _transfers(running, 1)
    thread.join(timeout=15)
    assert answered, "the long-poll did not answer"
    assert answered["seconds"] < 9, answered  # woken by the block, not by the timeout
    assert answered["head"] >= head + 1
    if answered["events"]:  # the first new block may be an idle one
        assert answered["events"][-1]["height"] > head


def test_a_long_poll_with_no_block_answers_empty_after_its_wait(running: RunningNode) -> None:
    far = running.http.get("/status").json()["height"] + 10_000
    start = time.monotonic()
    r = running.http.get("/events", params={"from": far, "wait": 1})
    assert r.status_code == 200
    # a height far past the head is not waited for (only the next block is)
    assert r.json() == {"events": [], "next": str(far), "head": r.json()["head"]}
    assert time.monotonic() - start < 1


def test_client_events_iterates_across_pages_until_told_to_stop(running: RunningNode) -> None:
    hashes = _transfers(running, 3)
    want = _all_receipt_events(running, hashes)
    pages: list[tuple[str, int]] = []
    with NodeClient(running.url) as client:
        got = list(
            client.events(
                1,
                wait_s=0,
                limit=1,
                on_page=lambda c, h: pages.append((c, h)),
                until=lambda: bool(pages) and parse_cursor(pages[-1][0])[0] > pages[-1][1],
            )
        )
    assert got == want and len(pages) >= len(want)


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "1001"}, {"wait": "31"}, {"wait": "-1"}, {"after": "x"},
     {"after": "1:2"}, {"from": "-3"}],
)  # fmt: skip
def test_malformed_parameters_are_400(running: RunningNode, params: dict[str, str]) -> None:
    r = running.http.get("/events", params=params)
    assert r.status_code == 400 and r.json()["code"] == "malformed", r.text
