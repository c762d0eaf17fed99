"""Reads a stranger cannot make unbounded: GET /blocks pages capped in bytes and transactions
(always at least one block), a replica that syncs page by page without starving its own
clients, and an account read that does not wait on a frozen sequencer."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import nnet.node.core as core
from nnet.chain.block import parse_block
from nnet.client import NodeClient
from nnet.encoding import to_json_line
from nnet.node.app import make_app
from nnet.node.core import Node
from nnet.node.sync import NONCE_HINT_TIMEOUT_S, Replica
from nnet.store.chaindb import ChainDB
from tests.chain.helpers import Devnet, make_devnet
from tests.node.conftest import RunningNode
from tests.node.test_core import body

# the envelope around a page's blocks: {"blocks":[...],"next":"123"} and the commas between
ENVELOPE = len('{"blocks":[],"next":"999999999"}')


def _chain(tmp_path: Path, sizes: list[int]) -> tuple[Devnet, Node]:
    """A sequencer node whose block h (from 1) holds sizes[h - 1] transfers."""
    net = make_devnet(3, tag="bounds")
    node = Node(ChainDB(tmp_path / "seq.db"), net.genesis, signer=net.sequencer.secret)
    users = net.users
    for h, n in enumerate(sizes, start=1):
        txs = [users[i % 3].transfer(users[(i + 1) % 3].address, 1 + i) for i in range(n)]
        if txs:
            results = node.submit_body(body(*txs), "application/x-ndjson").results
            assert all("hash" in r for r in results), results
        assert len(node.produce_block(1_000 * h).block.txs) == n
    return net, node


def _walk(node: Node, start: int, **caps: int) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Every page of GET /blocks from `start`, raw and decoded, following `next`."""
    while True:
        raw = b"".join(node.blocks_page(start, 1000, **caps))
        page = json.loads(raw)
        yield raw, page
        if page["next"] is None:
            return
        start = int(page["next"])


SIZES = [1, 3, 0, 2, 40, 1, 5, 0, 0, 7, 2, 1]  # block 5 alone is far over the small caps


def test_block_pages_stay_under_the_byte_cap_and_hold_at_least_one_block(tmp_path: Path) -> None:
    _, node = _chain(tmp_path, SIZES)
    head = node.head.height
    whole = [node.block(h) for h in range(head + 1)]
    big = len(to_json_line(whole[5]).encode())
    for cap in (1, 1500, 4000, big + 100):
        served = []
        for raw, page in _walk(node, 0, max_bytes=cap):
            assert page["blocks"], "a page always holds at least one block"
            if len(page["blocks"]) > 1:
                assert len(raw) <= cap + ENVELOPE + len(page["blocks"]), (cap, len(raw))
            served += page["blocks"]
        # every block once, in order, exactly as GET /blocks/{h} serves it
        assert served == whole, cap
    # a cap under every block: one block per page, the big one included
    assert [len(p["blocks"]) for _, p in _walk(node, 0, max_bytes=1)] == [1] * (head + 1)
    # the default cap holds this small chain in one page, whose `next` is null
    [(_, page)] = list(_walk(node, 0))
    assert len(page["blocks"]) == head + 1 and page["next"] is None
    # a page built from stored text is a chain a replica accepts
    assert parse_block(page["blocks"][5]).header.height == 5


def test_block_pages_are_capped_in_transactions(tmp_path: Path) -> None:
    _, node = _chain(tmp_path, SIZES)
    pages = [p for _, p in _walk(node, 1, max_txs=6)]
    for page in pages:
        n_txs = sum(len(b["txs"]) for b in page["blocks"])
        assert n_txs <= 6 or len(page["blocks"]) == 1, page["next"]
    heights = [b["header"]["height"] for p in pages for b in p["blocks"]]
    assert heights == list(range(1, node.head.height + 1))
    assert any(len(b["txs"]) == 40 for p in pages for b in p["blocks"])  # served whole, alone


def test_next_is_null_only_at_the_head(tmp_path: Path) -> None:
    _, node = _chain(tmp_path, [1, 1, 1, 1])
    assert node.blocks(1, 2)["next"] == "3"
    assert node.blocks(3, 2)["next"] is None  # 3 and 4: the head
    assert node.blocks(4, 1000)["next"] is None
    assert node.blocks(99, 10) == {"blocks": [], "next": None}


def test_blocks_limit_and_cursor_are_checked(running: RunningNode) -> None:
    http = running.http
    for query in ("limit=1001", "limit=0", "limit=-1", "limit=abc", "limit=1e3", "after=x"):
        r = http.get(f"/blocks?{query}")
        assert (r.status_code, r.json()["code"]) == (400, "malformed"), query
    assert http.get("/blocks?limit=1000").status_code == 200
    head = int(http.get("/status").json()["height"])
    page = http.get("/blocks", params={"from": 0, "limit": 1}).json()
    assert [b["header"]["height"] for b in page["blocks"]] == [0]
    assert head == 0 or page["next"] == "1"
    # `after` is a previous page's `next` and wins over `from`
    page = http.get("/blocks", params={"from": 0, "after": "1", "limit": 1}).json()
    assert [b["header"]["height"] for b in page["blocks"]] == [1] or head == 0


def test_a_client_walks_every_block_once_through_byte_capped_pages(
    running: RunningNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = 6000  # a block of 3 transfers is about 2 kB
    monkeypatch.setattr(core, "MAX_PAGE_BYTES", cap)
    alice, bob = running.users[0], running.users[1]
    txs = [alice.transfer(bob.address, 1 + i) for i in range(24)]
    for i in range(0, 24, 3):  # blocks of a few transactions, between idle blocks
        r = running.http.post(
            "/txs", content=body(*txs[i : i + 3]), headers={"content-type": "application/x-ndjson"}
        )
        assert all("hash" in x for x in r.json()["results"]), r.text
        last = running.wait_committed(txs[i + 2].hash_hex)["height"]
    after, sizes = "0", []
    while after is not None and int(after) <= last:
        raw = running.http.get("/blocks", params={"after": after, "limit": 1000})
        page = raw.json()
        assert page["blocks"]
        if len(page["blocks"]) > 1:
            assert len(raw.content) <= cap + ENVELOPE + len(page["blocks"])
        sizes.append(len(page["blocks"]))
        after = page["next"]
    assert len(sizes) > 1 and max(sizes) > 1, sizes  # cut by size, several blocks a page
    with NodeClient(running.url) as client:
        heights = [b["header"]["height"] for b in client.pages("/blocks", "blocks", **{"from": 0})]
    assert heights[: last + 1] == list(range(last + 1))
    assert heights == list(range(len(heights)))  # each once, in order, to the head


def test_a_replica_syncs_through_pages_and_serves_between_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net, seq = _chain(tmp_path, [2, 1, 3, 0, 4, 1, 2, 0, 1, 5] * 3)
    target = seq.head.height
    monkeypatch.setattr(core, "MAX_PAGE_BYTES", 3000)  # a few blocks per page
    follower = Node(ChainDB(tmp_path / "replica.db"), net.genesis)
    requests: list[str] = []

    async def note(request: httpx.Request) -> None:
        requests.append(request.url.path)

    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(seq)), event_hooks={"request": [note]}
    )
    replica = Replica(follower, ["http://sequencer"], client=client)
    seen: set[int] = set()

    async def watch() -> None:  # another client of the replica's event loop
        while follower.head.height < target:
            seen.add(follower.head.height)
            await asyncio.sleep(0)

    async def run() -> None:
        # a replica that rested `interval_s` between pages would not catch up in time
        follow = asyncio.create_task(replica.follow(interval_s=600))
        try:
            await asyncio.wait_for(watch(), timeout=60)
        finally:
            follow.cancel()
            await replica.close()

    asyncio.run(run())
    assert follower.head.hash_hex == seq.head.hash_hex
    assert follower.state.data == seq.state.data
    assert requests.count("/blocks") >= 5, "pages were cut by size"
    assert seen >= set(range(target)), "the replica handed the loop on after every block"


class FrozenPeer:
    """A sequencer that accepts connections and never answers (a real socket)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.05)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.held.append(conn)  # read nothing, answer nothing

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


def test_a_frozen_sequencer_does_not_hold_up_account_reads(tmp_path: Path) -> None:
    net = make_devnet(2, tag="frozen")
    follower = Node(ChainDB(tmp_path / "replica.db"), net.genesis)
    alice = net.users[0]
    peer = FrozenPeer()
    try:
        replica = Replica(follower, [peer.url])  # its own client, 10 s timeouts for blocks
        app = make_app(follower, peer_next_nonce=replica.peer_next_nonce)

        async def run() -> tuple[int | None, dict[str, Any]]:
            # bounds well under the client's 10 s: fails if the hint is not cut short
            hint = await asyncio.wait_for(
                replica.peer_next_nonce(alice.address), NONCE_HINT_TIMEOUT_S + 4
            )
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://replica"
            ) as http:
                r = await asyncio.wait_for(
                    http.get(f"/accounts/{alice.address}"), NONCE_HINT_TIMEOUT_S + 4
                )
            await replica.close()
            return hint, r.json()

        hint, account = asyncio.run(run())
        assert hint is None
        assert account["next_nonce"] == 0 and account["address"] == alice.address
        assert peer.held, "the peer was really asked"
    finally:
        peer.close()
