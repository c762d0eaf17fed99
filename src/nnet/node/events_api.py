"""`GET /events`: the chain's events from a height on, as a resumable long-poll feed.

An agent (`nnet node run`) follows the chain through this feed instead of polling job after job.
Each item is one event of a committed transaction's receipt, with where it happened:

    {"height": 12, "index": 0, "tx": "0x…", "type": "job.claimed", "job": 3, "node": "0x…"}

(`index` is the transaction's place in its block; the other keys are the event's own). Steps the
chain takes without a transaction (the verifier draw at the start of a block, deadlines at epoch
ends) leave no receipt, so no event: a follower re-reads the jobs it cares about whenever the feed
tells it that a block was committed, which an empty page past the head does.

Paging follows node/paging.py: `?limit=` (events, default 100, at most 1000), `?from=HEIGHT`
(default 1) or `?after=CURSOR` (a previous answer's `next`, which wins over `from`). The answer is
`{"events": [...], "next": CURSOR, "head": HEIGHT}`. A feed never ends, so `next` is never null:
once the page reaches the head it is the height after the head, and asking again from there
waits (long-poll) up to `?wait=` seconds (0 to MAX_WAIT_S, default 0) for the next block before
answering, with an empty page if none came. The wait awaits an asyncio.Event set when the node
commits a block (`BlockSignal` wraps the node's `produce_block`, `apply_block` and
`finalize_block`, as observe.py does for the block log), so a waiting request holds no thread
and the event loop stays free.

A page is bounded like every listing: at most `limit` events, about MAX_PAGE_BYTES of JSON, and
SCAN_BUDGET transactions looked at (an answer may then hold fewer events, with a `next` to go on).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nnet.encoding import to_json_line
from nnet.errors import MalformedInput
from nnet.node.paging import MAX_PAGE_BYTES, SCAN_BUDGET, parse_limit

__all__ = ["MAX_WAIT_S", "BlockSignal", "Cursor", "event_routes", "parse_cursor", "read_events"]

MAX_WAIT_S = 30
_BATCH = 256  # transactions read per query while a page fills

Cursor = tuple[int, int, int]  # (height, transaction index, event index): the first event to serve


class BlockSignal:
    """Wakes the requests waiting for a block when the node commits one."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def arm(self) -> asyncio.Event:
        """The event the next commit sets: take it before reading, then await it."""
        return self._event

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def watch(self, node: Any) -> None:
        """Call `notify` after every block `node` produces, applies or finalizes (wraps the
        three methods)."""
        for method in ("produce_block", "apply_block", "finalize_block"):
            setattr(node, method, self._after(getattr(node, method)))

    def _after(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            self.notify()
            return result

        return run


def parse_cursor(raw: str, name: str = "after") -> Cursor:
    """A previous answer's `next`: "HEIGHT", or "HEIGHT:TX:EVENT" inside a block."""
    parts = raw.split(":")
    if len(parts) not in (1, 3) or not all(
        p.isascii() and p.isdigit() and len(p) <= 18 for p in parts
    ):
        raise MalformedInput(f"{name} must be a cursor from a previous page's `next`")
    height, tx, event = (int(parts[0]), 0, 0) if len(parts) == 1 else map(int, parts)
    return height, tx, event


def format_cursor(cursor: Cursor) -> str:
    height, tx, event = cursor
    return str(height) if tx == 0 and event == 0 else f"{height}:{tx}:{event}"


def read_events(db: Any, start: Cursor, head: int, limit: int) -> tuple[list[bytes], Cursor]:
    """One page of events from `start` up to the head: their JSON texts, and the cursor of the
    first event not served (the height after the head once every event up to it is served)."""
    pieces: list[bytes] = []
    size = scanned = 0
    height, tx = start[0], start[1]
    while scanned < SCAN_BUDGET:
        rows = [
            r
            for r in db.get_receipt_rows(height, tx, min(_BATCH, SCAN_BUDGET - scanned))
            if r[0] <= head
        ]
        if not rows:
            return pieces, (max(head + 1, start[0]), 0, 0)
        for h, i, tx_hash, events_text in rows:
            scanned += 1
            events = json.loads(events_text)
            first = start[2] if (h, i) == (start[0], start[1]) else 0
            for e in range(first, len(events)):
                if len(pieces) >= limit:
                    return pieces, (h, i, e)
                item = {**events[e], "height": h, "index": i, "tx": tx_hash}
                piece = to_json_line(item).encode()
                if pieces and size + len(piece) > MAX_PAGE_BYTES:
                    return pieces, (h, i, e)
                pieces.append(piece)
                size += len(piece)
        height, tx = rows[-1][0], rows[-1][1] + 1
    return pieces, (height, tx, 0)


def _wait_param(raw: str | None) -> int:
    if raw is None:
        return 0
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4 or int(raw) > MAX_WAIT_S:
        raise MalformedInput(f"wait must be a whole number of seconds from 0 to {MAX_WAIT_S}")
    return int(raw)


def event_routes(node: Any) -> list[Route]:
    """GET /events over `node` (its database and head); wakes waiters when it commits a block."""
    signal = BlockSignal()
    signal.watch(node)

    async def get_events(request: Request) -> Response:
        query = request.query_params
        limit = parse_limit(query.get("limit"))
        wait_s = _wait_param(query.get("wait"))
        after = query.get("after")
        if after is not None:
            start = parse_cursor(after)
        else:
            start = (parse_cursor(query["from"], "from")[0], 0, 0) if "from" in query else (1, 0, 0)
        armed = signal.arm()
        head = node.head.height
        pieces, nxt = read_events(node.db, start, head, limit)
        if not pieces and wait_s and start[0] == head + 1:
            try:
                await asyncio.wait_for(armed.wait(), timeout=wait_s)
            except TimeoutError:
                pass
            else:
                head = node.head.height
                pieces, nxt = read_events(node.db, start, head, limit)
        body = b'{"events":[' + b",".join(pieces) + b"],"
        tail = json.dumps({"next": format_cursor(nxt), "head": head}, separators=(",", ":"))
        return Response(body + tail[1:].encode(), media_type="application/json")

    return [Route("/events", get_events, methods=["GET"])]
