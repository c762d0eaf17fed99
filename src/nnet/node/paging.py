"""Cursor paging for the daemon's listings (the convention every listing endpoint follows).

A listing takes `?limit=N` (default 100, at most 1000; anything else is a 400 `malformed`, never
clamped) and `?after=CURSOR` (the opaque `next` of the previous page) and answers
`{"<items>": [...], "next": CURSOR | null}`, `next` null on the last page. A page is bounded
three ways, so no request can make the node do or hold unbounded work: at most `limit` items,
about MAX_PAGE_BYTES of JSON (always at least one item), and at most SCAN_BUDGET records looked
at while filtering (a page may then hold fewer items than asked, even none, with a `next`).

Pages are rendered from each item's JSON text as it is measured, so nothing is encoded twice.
No web framework here: node/core.py pages blocks with the same limits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nnet.encoding import to_json_line
from nnet.errors import MalformedInput

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_PAGE_BYTES",
    "SCAN_BUDGET",
    "Page",
    "collect_page",
    "int_cursor",
    "newest_first",
    "parse_limit",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_PAGE_BYTES = 4 * 1024 * 1024  # JSON bytes per page, one item over it still served whole
SCAN_BUDGET = 10_000  # records looked at per page while filtering

T = TypeVar("T")


def parse_limit(raw: str | None) -> int:
    """`?limit=`: 1 to MAX_LIMIT, DEFAULT_LIMIT when absent; anything else is refused."""
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or not 0 < int(raw) <= MAX_LIMIT:
        raise MalformedInput(f"limit must be an integer from 1 to {MAX_LIMIT}, not {raw[:40]!r}")
    return int(raw)


def int_cursor(raw: str | None, name: str = "after") -> int | None:
    """A cursor that is a non-negative integer (the listings of numbered records), or None."""
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise MalformedInput(f"{name} must be a cursor from a previous page's `next`")
    return int(raw)


@dataclass
class Page:
    """Items' JSON texts (UTF-8) and the cursor after the last of them (None: the last page)."""

    items_key: str
    pieces: list[bytes] = field(default_factory=list)
    next: str | None = None

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.pieces)

    def body(self, **extra: Any) -> bytes:
        """The answer, as JSONResponse would write it, `extra` keys after `next`."""
        tail = {"next": self.next, **extra}
        return b"".join(
            [
                b'{"' + self.items_key.encode() + b'":[',
                b",".join(self.pieces),
                b"],",
                to_json_line(tail)[1:].encode(),
            ]
        )


def collect_page(
    items_key: str,
    candidates: Iterable[tuple[str, T | None]],
    render: Callable[[T], Any],
    limit: int,
    *,
    max_bytes: int | None = None,
    budget: int | None = None,
) -> Page:
    """One page from `candidates`, (cursor, record or None when it does not match), in order.

    `next` is the cursor of the last item served, or of the last record looked at when the scan
    budget ran out first; null only once the candidates are exhausted. After a full page the scan
    peeks on (within the budget) for one more match, so that the last page says it is last."""
    max_bytes = MAX_PAGE_BYTES if max_bytes is None else max_bytes
    budget = SCAN_BUDGET if budget is None else budget
    page = Page(items_key)
    size = 0
    full = False
    last_cursor: str | None = None
    for scanned, (cursor, record) in enumerate(candidates, start=1):
        if record is not None:
            if full:
                page.next = last_cursor  # one more match exists beyond this page
                return page
            piece = to_json_line(render(record)).encode()
            if page.pieces and size + len(piece) > max_bytes:
                page.next = last_cursor
                return page
            page.pieces.append(piece)
            size += len(piece)
            full = len(page.pieces) >= limit or size >= max_bytes
        if not full or record is not None:
            last_cursor = cursor
        if scanned >= budget:
            page.next = last_cursor
            return page
    return page


def newest_first(
    query: Mapping[str, str],
    items_key: str,
    statuses: Sequence[str],
    next_id: int,
    load: Callable[[int], T | None],
    status_of: Callable[[T], str],
    render: Callable[[T], Any],
) -> Page:
    """A page of numbered records (jobs, proposals: ids 1 to next_id - 1), newest first,
    filtered by `?status=`; the cursor is the id of the last record looked at."""
    status = query.get("status")
    if status is not None and status not in statuses:
        raise MalformedInput(f"status must be one of {', '.join(statuses)}, not {status[:40]!r}")
    limit = parse_limit(query.get("limit"))
    after = int_cursor(query.get("after"))
    top = next_id - 1 if after is None else min(after - 1, next_id - 1)

    def candidates() -> Iterator[tuple[str, T | None]]:
        for record_id in range(top, 0, -1):
            record = load(record_id)
            keep = record is not None and (status is None or status_of(record) == status)
            yield str(record_id), record if keep else None

    return collect_page(items_key, candidates(), render, limit)
