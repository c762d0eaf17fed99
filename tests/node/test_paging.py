"""Cursor paging of the listings (node/paging.py): `?limit=&after=`, `next` null on the last
page, bounded work and size per page; `NodeClient.pages`; the list commands walk every page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nnet.commands._listing as listing_module
from nnet.client import NodeClient
from nnet.encoding import UNIT
from nnet.errors import NodeUnreachable
from nnet.node.paging import Page, collect_page
from tests.chain.test_market import register, submit
from tests.node.conftest import RunningNode, run_node


# ---- the page builder ----------------------------------------------------------------------
def _walk(items: list[int | None], limit: int, **caps: int) -> list[Page]:
    """Every page over records 0..n-1 (None: filtered out), each page resuming after `next`."""
    pages, after = [], -1
    while True:
        cands = ((str(i), items[i]) for i in range(after + 1, len(items)))
        page = collect_page("xs", cands, lambda x: {"x": x}, limit, **caps)
        pages.append(page)
        if page.next is None:
            return pages
        after = int(page.next)


def _served(pages: list[Page]) -> list[int]:
    return [json.loads(p)["x"] for page in pages for p in page.pieces]


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("budget", [1, 2, 5, 10_000])
def test_every_match_is_served_once_in_order(limit: int, budget: int) -> None:
    items: list[int | None] = [i if i % 3 == 0 else None for i in range(40)]  # a filter
    pages = _walk(items, limit, budget=budget)
    assert _served(pages) == [i for i in range(40) if i % 3 == 0]
    assert all(len(p.pieces) <= limit for p in pages)
    assert pages[-1].next is None and all(p.next is not None for p in pages[:-1])


def test_the_scan_budget_bounds_the_work_of_a_page() -> None:
    looked: list[int] = []

    def cands() -> Any:
        for i in range(100_000):
            looked.append(i)
            yield str(i), (i if i == 99_999 else None)  # one match, at the very end

    page = collect_page("xs", cands(), lambda x: x, 10, budget=500)
    assert page.pieces == [] and page.next == "499" and len(looked) == 500


def test_the_last_page_says_it_is_last() -> None:
    pages = _walk([0, 1, 2, 3], limit=2)  # the peek past a full page finds no more
    assert [len(p.pieces) for p in pages] == [2, 2] and pages[-1].next is None
    pages = _walk([0, 1, 2, None, None], limit=3)
    assert len(pages) == 1 and pages[0].next is None


def test_a_page_is_capped_in_bytes_but_holds_at_least_one_item() -> None:
    items: list[int | None] = list(range(50))
    render_size = len(json.dumps({"x": 10}, separators=(",", ":")))
    for cap in (1, render_size, 5 * render_size, 10**9):
        pages = _walk(items, 1000, max_bytes=cap)
        assert _served(pages) == items
        for page in pages:
            assert page.pieces and (len(page.pieces) == 1 or page.size <= cap)
    assert all(len(p.pieces) == 1 for p in _walk(items, 1000, max_bytes=1))


def test_page_body_is_the_json_a_client_reads() -> None:
    page = collect_page("xs", iter([("a", "é"), ("b", None)]), lambda x: {"v": x}, 10)
    assert json.loads(page.body()) == {"xs": [{"v": "é"}], "next": None}
    assert json.loads(Page("xs", [], "7").body()) == {"xs": [], "next": "7"}


# ---- the daemon's listings ---------------------------------------------------------------
def _send(running: RunningNode, *txs: Any) -> None:
    body = ("\n".join(json.dumps(t.to_dict()) for t in txs) + "\n").encode()
    r = running.http.post("/txs", content=body, headers={"content-type": "application/x-ndjson"})
    results = r.json()["results"]
    assert all("hash" in x for x in results), results
    running.wait_committed(results[-1]["hash"])


def _walk_http(running: RunningNode, path: str, key: str, **params: Any) -> list[Any]:
    """Every item of a listing through raw requests, checking the convention on each page."""
    items, after = [], None
    for _ in range(100):
        query = {**params, **({} if after is None else {"after": after})}
        page = running.http.get(path, params=query).json()
        assert set(page) >= {key, "next"}
        items += page[key]
        after = page["next"]
        if after is None:
            return items
    raise AssertionError("no last page")


def test_jobs_proposals_and_nodes_page_with_filters(running: RunningNode) -> None:
    a, b, c = running.users
    _send(running, register(b), register(c))
    _send(running, *[submit(a, verifiers=1) for _ in range(7)])
    _send(running, a.tx("job.cancel", {"job": 2}), a.tx("job.cancel", {"job": 5}))
    deposit = str(10 * UNIT)
    _send(
        running,
        *[
            a.tx("gov.propose", {"title": f"t{i}", "kind": "text", "deposit": deposit})
            for i in range(5)
        ],
    )

    for limit in (1, 2, 3, 1000):
        jobs = _walk_http(running, "/jobs", "jobs", limit=limit)
        assert [j["id"] for j in jobs] == [7, 6, 5, 4, 3, 2, 1]  # newest first, each once
        open_ = _walk_http(running, "/jobs", "jobs", limit=limit, status="open")
        cancelled = _walk_http(running, "/jobs", "jobs", limit=limit, status="cancelled")
        assert [j["id"] for j in cancelled] == [5, 2]
        assert [j["id"] for j in open_] == [7, 6, 4, 3, 1]
        props = _walk_http(running, "/proposals", "proposals", limit=limit)
        assert [p["id"] for p in props] == [5, 4, 3, 2, 1]
        nodes = _walk_http(running, "/nodes", "nodes", limit=limit)
        assert [n["address"] for n in nodes] == sorted([b.address, c.address])
    assert running.http.get("/jobs", params={"limit": 2}).json()["next"] == "6"
    assert running.http.get("/jobs", params={"after": "6", "limit": 5}).json()["next"] is None

    with NodeClient(running.url) as client:
        assert [j["id"] for j in client.pages("/jobs", "jobs", limit=2)] == [7, 6, 5, 4, 3, 2, 1]
        voting = list(client.pages("/proposals", "proposals", limit=1, status="deposit"))
        assert [p["id"] for p in voting] == [5, 4, 3, 2, 1]
        assert len(list(client.pages("/nodes", "nodes", limit=1))) == 2

    for path in ("/jobs", "/proposals", "/nodes"):
        for query in ("limit=1001", "limit=0", "limit=-1", "limit=x", "after=%C2%B2"):
            r = running.http.get(f"{path}?{query}")
            assert (r.status_code, r.json()["code"]) == (400, "malformed"), (path, query)
    for path in ("/jobs", "/proposals"):
        r = running.http.get(f"{path}?status=bogus")
        assert (r.status_code, r.json()["code"]) == (400, "malformed")
        assert "open" in r.json()["error"] or "voting" in r.json()["error"]


def test_pages_refuses_a_node_that_walks_in_circles() -> None:
    class Loop(NodeClient):
        def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
            return {"xs": [1], "next": "same"}

    with Loop("http://127.0.0.1:9") as client, pytest.raises(NodeUnreachable, match="twice"):
        list(client.pages("/xs", "xs"))


# ---- the list commands -------------------------------------------------------------------
@pytest.fixture
def slow_gov(tmp_path: Path) -> Iterator[RunningNode]:
    """A node whose proposals and jobs stay open however slow the machine is: at 20 idle
    blocks a second, the default 2 epochs of 10 blocks pass in a second (the listing then
    finds them expired); here epochs last 5 s and deposit periods 10,000 epochs."""
    with run_node(tmp_path, {"gov_deposit_epochs": 10_000}, block_time_s=0.5) as node:
        yield node


def test_list_commands_show_every_page_and_honour_limit(
    slow_gov: RunningNode, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = slow_gov
    a, b, c = running.users
    _send(running, register(b), register(c))
    _send(running, *[submit(a, verifiers=1) for _ in range(5)])
    deposit = str(10 * UNIT)
    _send(
        running,
        *[
            a.tx("gov.propose", {"title": f"t{i}", "kind": "text", "deposit": deposit})
            for i in range(3)
        ],
    )
    monkeypatch.setattr(listing_module, "PAGE_SIZE", 2)  # several pages for a few items
    node = ["--node", running.url, "--json"]

    def ids(*args: str) -> list[Any]:
        result = run_cli(*args, *node)
        assert result.exit_code == 0, result.stderr
        return [
            json.loads(line).get("id", json.loads(line).get("address")) for line in result.lines()
        ]

    assert ids("job", "list") == [5, 4, 3, 2, 1]
    assert ids("job", "list", "--limit", "3") == [5, 4, 3]
    assert ids("job", "list", "--status", "open", "--limit", "1") == [5]
    assert ids("node", "list") == sorted([b.address, c.address])
    assert ids("node", "list", "--limit", "1") == sorted([b.address, c.address])[:1]
    assert ids("vote", "list") == [3, 2, 1]
    assert ids("vote", "list", "--status", "deposit", "--limit", "2") == [3, 2]

    for args, word in ((("job", "list"), "cancelled"), (("vote", "list"), "vetoed")):
        bad = run_cli(*args, "--status", "bogus", *node)
        assert bad.exit_code == 2 and "bogus" in bad.stderr and word in bad.stderr, bad.stderr
    bad = run_cli("job", "list", "--limit", "0", *node)
    assert bad.exit_code == 2
