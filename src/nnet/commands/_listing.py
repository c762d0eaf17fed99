"""The list commands' shared part: `--limit`, and every item of a paged listing up to it.

The daemon answers listings a page at a time (`?limit=&after=`, node/paging.py); a list command
walks the pages with `NodeClient.pages` so it shows everything, or the first `--limit` items.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from nnet.client import NodeClient

__all__ = ["PAGE_SIZE", "LimitOpt", "listing"]

PAGE_SIZE = 1000  # items per request: the most a node serves in one page

LimitOpt = Annotated[
    int | None, typer.Option("--limit", min=1, help="Show at most this many (default: all).")
]


def listing(
    client: NodeClient, path: str, items_key: str, limit: int | None, **params: Any
) -> Iterator[dict[str, Any]]:
    """The items of `path`, newest or first first as the node orders them, at most `limit`."""
    size = PAGE_SIZE if limit is None else min(limit, PAGE_SIZE)
    return islice(client.pages(path, items_key, limit=size, **params), limit)
