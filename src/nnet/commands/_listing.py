"""The list commands' shared part: `--limit`, and every item of a paged listing up to it.

The daemon answers listings a page at a time (`?limit=&after=`, node/paging.py); a list command
walks the pages with a NodeClient listing (`client.jobs`, `client.nodes`, `client.proposals`)
so it shows everything, or the first `--limit` items, asking for no more than it shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Annotated, Any

import typer

from nnet.errors import UsageError

__all__ = ["PAGE_SIZE", "LimitOpt", "check_status", "listing"]

PAGE_SIZE = 1000  # items per request: the most a node serves in one page

LimitOpt = Annotated[
    int | None, typer.Option("--limit", min=1, help="Show at most this many (default: all).")
]


def listing(
    pages: Callable[[int], Iterator[dict[str, Any]]], limit: int | None
) -> Iterator[dict[str, Any]]:
    """The items `pages(page_size)` walks, in the node's order, at most `limit`."""
    size = PAGE_SIZE if limit is None else min(limit, PAGE_SIZE)
    return islice(pages(size), limit)


def check_status(status: str | None, statuses: Sequence[str], what: str) -> str | None:
    """--status as given, refused (a usage error naming every status) unless it is one of a
    `what`'s `statuses`."""
    if status is not None and status not in statuses:
        raise UsageError(
            f"--status {status!r} is not a {what} status", hint=f"one of: {', '.join(statuses)}"
        )
    return status
