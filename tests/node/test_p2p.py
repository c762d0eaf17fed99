"""Gossip over real HTTP (node/p2p.py): batching and order, independent peers, bounded queues and
retries, the fault plan on what is sent and what is received, and the /p2p/ routes' limits.

Receivers are small Starlette apps serving `p2p_routes` over a recording handler, under uvicorn on
127.0.0.1 port 0 in a thread; the sender runs in the test's own event loop (asyncio.run).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from nnet.errors import NodeUnreachable, UsageError
from nnet.node.faults import RECHECK_S, FaultPlan
from nnet.node.p2p import (
    MAX_BODY_BYTES,
    MAX_MESSAGES,
    PEER_HEADER,
    Gossip,
    Peer,
    p2p_routes,
    parse_peer,
)


class Recorder:
    """A P2PHandler that remembers what it was given, one entry per request."""

    def __init__(self) -> None:
        self.consensus: list[tuple[str, list[dict[str, Any]]]] = []
        self.txs: list[tuple[str, bytes]] = []
        self.commits: dict[int, dict[str, Any]] = {}

    async def on_consensus(self, messages: list[dict[str, Any]], peer: str) -> None:
        self.consensus.append((peer, messages))

    async def on_txs(self, body: bytes, content_type: str) -> dict[str, Any]:
        self.txs.append((content_type, body))
        return {"results": [{"status": "pending"} for _ in body.splitlines()]}

    def commit(self, height: int) -> dict[str, Any] | None:
        return self.commits.get(height)

    def messages(self) -> list[dict[str, Any]]:
        return [m for _, batch in self.consensus for m in batch]

    def tx_lines(self) -> list[str]:
        return [line for _, body in self.txs for line in body.decode().splitlines()]


class Server:
    """uvicorn serving `routes` on 127.0.0.1, port 0, in a thread."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        config = uvicorn.Config(
            Starlette(routes=routes), host="127.0.0.1", port=0, log_level="error", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.005)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator[Callable[[list[BaseRoute]], Server]]:
    servers: list[Server] = []

    def start(routes: list[BaseRoute]) -> Server:
        servers.append(Server(routes))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def receiver(
    serve: Callable[[list[BaseRoute]], Server], faults: FaultPlan | None = None, **kw: Any
) -> tuple[Server, Recorder]:
    handler = Recorder()
    routes: list[BaseRoute] = [*p2p_routes(handler, faults, **kw)]
    return serve(routes), handler


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def vote(i: int) -> dict[str, Any]:
    return {"kind": "vote", "type": "prevote", "height": 1, "round": i, "block_id": None}


# ---- sending ----------------------------------------------------------------------------------
def test_batches_deliver_everything_in_order_to_every_peer(serve: Any) -> None:
    (a, rec_a), (b, rec_b) = receiver(serve), receiver(serve)

    async def main() -> None:
        gossip = Gossip("node-0", [Peer("node-1", a.url), Peer("node-2", b.url)])
        for i in range(600):  # queued before the workers start: the first two batches are full
            gossip.send_consensus(vote(i))
        lines = [json.dumps({"n": i}) for i in range(2500)]
        gossip.send_txs(lines)
        gossip.start()
        for i in range(600, 700):  # and more while they run
            gossip.send_consensus(vote(i))
            if i % 10 == 0:
                await asyncio.sleep(0)
        stats = gossip.stats()
        await until(lambda: stats["node-1"].sent == stats["node-2"].sent == 700 + 2500)
        await gossip.close()
        for rec in (rec_a, rec_b):
            assert rec.messages() == [vote(i) for i in range(700)]
            assert [len(batch) for _, batch in rec.consensus[:2]] == [256, 256]
            assert all(len(batch) <= 256 for _, batch in rec.consensus)
            assert {peer for peer, _ in rec.consensus} == {"node-0"}  # x-nnet-peer
            assert rec.tx_lines() == lines
            assert [len(body.splitlines()) for _, body in rec.txs] == [2000, 500]
            assert {ctype for ctype, _ in rec.txs} == {"application/x-ndjson"}

    run(main)


def test_a_dead_peer_does_not_hold_up_the_others(serve: Any) -> None:
    live, rec = receiver(serve)
    # a peer that accepts connections and never answers
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        hung_url = f"http://127.0.0.1:{hung.getsockname()[1]}"

        async def main() -> None:
            client = httpx.AsyncClient(timeout=60)
            gossip = Gossip(
                "node-0",
                [
                    Peer("hung", hung_url),
                    Peer("refused", "http://127.0.0.1:9"),
                    Peer("live", live.url),
                ],
                client=client,
            )
            gossip.start()
            for i in range(50):
                gossip.send_consensus(vote(i))
                await asyncio.sleep(0)
            await until(lambda: len(rec.messages()) == 50)
            assert rec.messages() == [vote(i) for i in range(50)]
            assert gossip.stats()["hung"].sent == 0
            await gossip.close()
            await client.aclose()

        run(main)


def test_a_full_queue_drops_its_oldest(serve: Any) -> None:
    server, rec = receiver(serve)

    async def main() -> None:
        gossip = Gossip("node-0", [Peer("node-1", server.url)], max_queue=5)
        for i in range(8):
            gossip.send_consensus(vote(i))
        gossip.send_txs([f'{{"n":{i}}}' for i in range(7)])
        assert gossip.queued("node-1") == 5 + 5  # each queue holds max_queue
        assert gossip.stats()["node-1"].dropped == 3 + 2
        gossip.start()
        await until(lambda: len(rec.messages()) == 5 and len(rec.tx_lines()) == 5)
        await gossip.close()
        assert rec.messages() == [vote(i) for i in range(3, 8)]  # the newest five
        assert rec.tx_lines() == [f'{{"n":{i}}}' for i in range(2, 7)]

    run(main)


def _counting(status: int, counter: list[int]) -> list[BaseRoute]:
    async def answer(request: Request) -> Response:
        counter.append(1)
        return JSONResponse({"error": "no", "code": "x"}, status_code=status)

    return [Route("/p2p/consensus", answer, methods=["POST"])]


@pytest.mark.parametrize(("status", "retries", "attempts"), [(500, 3, 4), (503, 1, 2), (400, 3, 1)])
def test_retries_are_bounded(serve: Any, status: int, retries: int, attempts: int) -> None:
    counter: list[int] = []
    server = serve(_counting(status, counter))

    async def main() -> None:
        gossip = Gossip(
            "node-0", [Peer("node-1", server.url)], retries=retries, backoff=(0.01, 0.02)
        )
        gossip.start()
        gossip.send_consensus(vote(1))
        await until(lambda: gossip.stats()["node-1"].failed == 1)
        await asyncio.sleep(0.1)  # no attempt after giving up
        await gossip.close()
        assert gossip.stats()["node-1"].sent == 0

    run(main)
    assert len(counter) == attempts  # a 5xx is retried `retries` times, a 4xx never


def test_transport_errors_are_retried_a_bounded_number_of_times() -> None:
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request.headers[PEER_HEADER])
        raise httpx.ConnectError("refused", request=request)

    async def main() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
        gossip = Gossip("me", [Peer("p", "http://127.0.0.1:1")], client=client, backoff=(0.01,))
        gossip.start()
        gossip.send_consensus(vote(1))
        await until(lambda: gossip.stats()["p"].failed == 1)
        await asyncio.sleep(0.05)
        await gossip.close()
        await client.aclose()

    run(main)
    assert attempts == ["me"] * 4  # the default: 3 retries


# ---- faults on what is sent -------------------------------------------------------------------
def _plan(path: Path, rules: list[dict[str, Any]]) -> FaultPlan:
    path.write_text(json.dumps({"rules": rules}))
    return FaultPlan(path)


def test_drop_delay_and_duplicate_rules_apply_to_pushes(serve: Any, tmp_path: Path) -> None:
    (a, rec_a), (b, rec_b), (c, rec_c) = receiver(serve), receiver(serve), receiver(serve)
    plan = _plan(
        tmp_path / "faults.json",
        [
            {"peer": "dropped", "action": "drop"},
            {"peer": "slow", "action": "delay", "seconds": 0.3},
            {"peer": "twice", "action": "duplicate"},
        ],
    )

    async def main() -> None:
        peers = [Peer("dropped", a.url), Peer("slow", b.url), Peer("twice", c.url)]
        gossip = Gossip("node-0", peers, faults=plan)
        gossip.start()
        sent_at = time.monotonic()
        gossip.send_consensus(vote(1))
        await until(lambda: len(rec_b.consensus) == 1 and len(rec_c.consensus) == 2)
        arrived_slow = time.monotonic()
        await asyncio.sleep(0.1)
        await gossip.close()
        assert rec_a.consensus == []  # never sent
        assert gossip.stats()["dropped"].faulted == 1 and gossip.stats()["dropped"].sent == 0
        assert rec_b.messages() == [vote(1)]
        assert arrived_slow - sent_at >= 0.3  # sent no sooner than the delay
        assert rec_c.messages() == [vote(1), vote(1)]  # the same batch, twice

    run(main)


def test_a_delayed_peer_does_not_delay_the_others(serve: Any, tmp_path: Path) -> None:
    (a, rec_a), (b, rec_b) = receiver(serve), receiver(serve)
    plan = _plan(tmp_path / "faults.json", [{"peer": "slow", "action": "delay", "seconds": 30}])

    async def main() -> None:
        gossip = Gossip("node-0", [Peer("slow", a.url), Peer("fast", b.url)], faults=plan)
        gossip.start()
        gossip.send_consensus(vote(1))
        await until(lambda: len(rec_b.consensus) == 1)
        await gossip.close()
        assert rec_a.consensus == []

    run(main)


def test_a_rule_changed_at_runtime_partitions_then_heals(serve: Any, tmp_path: Path) -> None:
    server, rec = receiver(serve)
    path = tmp_path / "faults.json"
    plan = FaultPlan(path)  # no file yet: no faults

    async def main() -> None:
        gossip = Gossip("node-0", [Peer("node-1", server.url)], faults=plan)
        gossip.start()
        gossip.send_consensus(vote(1))
        await until(lambda: len(rec.messages()) == 1)
        path.write_text(json.dumps({"rules": [{"peer": "node-1", "action": "drop"}]}))
        await until(lambda: len(plan.rules) == 1)  # picked up within RECHECK_S
        gossip.send_consensus(vote(2))
        await until(lambda: gossip.stats()["node-1"].faulted == 1)
        path.write_text(json.dumps({"rules": []}))
        await until(lambda: plan.rules == ())
        gossip.send_consensus(vote(3))
        await until(lambda: len(rec.messages()) == 2)
        await gossip.close()
        assert rec.messages() == [vote(1), vote(3)]  # the one sent while partitioned is lost

    run(main)


def test_a_malformed_faults_file_injects_nothing(serve: Any, tmp_path: Path) -> None:
    server, rec = receiver(serve)
    path = tmp_path / "faults.json"
    path.write_text('{"rules": [{"peer": "node-1", "action": "drop"}, {"peer": "node-1"')

    async def main() -> None:
        plan = FaultPlan(path)
        gossip = Gossip("node-0", [Peer("node-1", server.url)], faults=plan)
        gossip.start()
        gossip.send_consensus(vote(1))
        await until(lambda: len(rec.messages()) == 1)
        await gossip.close()
        assert plan.error

    run(main)


def test_get_goes_through_the_fault_plan(serve: Any, tmp_path: Path) -> None:
    server, rec = receiver(serve)
    rec.commits[5] = {"height": 5, "round": 0}
    path = tmp_path / "faults.json"
    clock = [0.0]
    plan = FaultPlan(path, clock=lambda: clock[0])

    async def main() -> None:
        gossip = Gossip("node-0", [], faults=plan)
        peer = Peer("node-1", server.url)
        r = await gossip.get(peer, "/p2p/commit/5")
        assert r.status_code == 200 and r.json() == {"height": 5, "round": 0}
        assert (await gossip.get(peer, "/p2p/commit/6")).status_code == 404
        path.write_text(json.dumps({"rules": [{"peer": "node-1", "action": "drop"}]}))
        clock[0] += RECHECK_S
        with pytest.raises(NodeUnreachable, match="dropped by fault rule"):
            await gossip.get(peer, "/p2p/commit/5")
        with pytest.raises(NodeUnreachable):
            await gossip.get(Peer("nobody", "http://127.0.0.1:9"), "/p2p/commit/5")
        await gossip.close()

    run(main)


# ---- receiving --------------------------------------------------------------------------------
def test_inbound_from_a_dropped_peer_is_503(serve: Any, tmp_path: Path) -> None:
    plan = _plan(tmp_path / "faults.json", [{"peer": "node-2", "action": "drop"}])
    server, rec = receiver(serve, plan)
    with httpx.Client(base_url=server.url) as http:
        for path in ("/p2p/consensus", "/p2p/txs"):
            r = http.post(path, content=b"[]", headers={PEER_HEADER: "node-2"})
            assert r.status_code == 503
            assert r.json() == {"error": "dropped by fault rule", "code": "fault_dropped"}
        r = http.get("/p2p/commit/1", headers={PEER_HEADER: "node-2"})
        assert r.status_code == 503
        assert rec.consensus == [] and rec.txs == []
        ok = http.post("/p2p/consensus", json=[vote(1)], headers={PEER_HEADER: "node-1"})
        assert ok.status_code == 202 and ok.json() == {"received": 1}
        anonymous = http.post("/p2p/consensus", json=[vote(2)])
        assert anonymous.status_code == 202
    assert rec.consensus == [("node-1", [vote(1)]), ("", [vote(2)])]


def test_consensus_body_must_be_an_array_of_objects(serve: Any) -> None:
    server, rec = receiver(serve)
    with httpx.Client(base_url=server.url) as http:
        for body in (b"{}", b'"x"', b"[1]", b"[{}, []]", b"not json", b'[{"a": 1.5}]'):
            r = http.post("/p2p/consensus", content=body)
            assert r.status_code == 400 and r.json()["code"] == "malformed", body
        assert rec.consensus == []
        r = http.post("/p2p/consensus", json=[{}] * (MAX_MESSAGES + 1))
        assert r.status_code == 400 and str(MAX_MESSAGES) in r.json()["error"]
        assert rec.consensus == []
        r = http.post("/p2p/consensus", json=[{}] * MAX_MESSAGES)
        assert r.status_code == 202 and len(rec.messages()) == MAX_MESSAGES


def test_oversized_bodies_are_413(serve: Any) -> None:
    server, rec = receiver(serve, max_body_bytes=1000)
    at_limit = json.dumps([{"pad": "x" * 980}]).encode()
    at_limit += b" " * (1000 - len(at_limit))
    with httpx.Client(base_url=server.url) as http:
        for path in ("/p2p/consensus", "/p2p/txs"):
            r = http.post(path, content=b" " * 1001)
            assert r.status_code == 413 and r.json()["code"] == "too_large"
            r = http.post(path, content=iter([b" " * 600, b" " * 600]))  # chunked, no length
            assert r.status_code == 413 and r.json()["code"] == "too_large"
        assert rec.consensus == [] and rec.txs == []
        assert http.post("/p2p/consensus", content=at_limit).status_code == 202


def test_the_default_body_limit_is_16_mib(serve: Any) -> None:
    assert MAX_BODY_BYTES == 16 * 1024 * 1024
    server, rec = receiver(serve)
    host, port = server.url.removeprefix("http://").split(":")

    def post(declared: int, body: bytes) -> bytes:
        head = (
            f"POST /p2p/consensus HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Length: {declared}\r\nConnection: close\r\n\r\n"
        )
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(head.encode() + body)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer

    over = post(MAX_BODY_BYTES + 1, b"[")  # refused on its declared length, unread
    assert over.split(b" ")[1] == b"413" and b"too_large" in over
    at_limit = post(MAX_BODY_BYTES, b"[" + b" " * (MAX_BODY_BYTES - 2) + b"]")
    assert at_limit.split(b" ")[1] == b"202" and b'"received":0' in at_limit
    assert rec.consensus == [("", [])]


def test_txs_go_to_the_handler_as_sent(serve: Any) -> None:
    server, rec = receiver(serve)
    body = b'{"a":1}\n{"b":2}\n'
    with httpx.Client(base_url=server.url) as http:
        r = http.post("/p2p/txs", content=body, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 202 and r.json() == {"results": [{"status": "pending"}] * 2}
    assert rec.txs == [("application/x-ndjson", body)]


def test_commit_route(serve: Any) -> None:
    server, rec = receiver(serve)
    rec.commits[3] = {"height": 3}
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/p2p/commit/3").json() == {"height": 3}
        r = http.get("/p2p/commit/4")
        assert r.status_code == 404 and r.json()["code"] == "not_found"
        for bad in ("-1", "x", "1" * 19):
            r = http.get(f"/p2p/commit/{bad}")
            assert r.status_code == 400 and r.json()["code"] == "malformed"


# ---- peers ------------------------------------------------------------------------------------
def test_parse_peer_accepts_name_url_and_bare_url() -> None:
    assert parse_peer("node-1=http://127.0.0.1:7001") == Peer("node-1", "http://127.0.0.1:7001")
    assert parse_peer("http://127.0.0.1:7001/") == Peer(
        "http://127.0.0.1:7001", "http://127.0.0.1:7001"
    )
    assert parse_peer("v.1_a=https://example.org:443") == Peer("v.1_a", "https://example.org:443")
    assert parse_peer("a=http://[::1]:80").url == "http://[::1]:80"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "node-1",
        "node-1=",
        "=http://127.0.0.1:7001",
        "bad name=http://127.0.0.1:7001",
        "x" * 65 + "=http://127.0.0.1:7001",
        "n=ftp://127.0.0.1:7001",
        "n=127.0.0.1:7001",
        "n=http://127.0.0.1",  # no port
        "n=http://127.0.0.1:0",
        "n=http://127.0.0.1:99999",
        "n=http://127.0.0.1:port",
        "n=http://127.0.0.1:7001/p2p",
        "n=http://127.0.0.1:7001?x=1",
        "n=http://user:pw@127.0.0.1:7001",
        "http://127.0.0.1:7001#frag",
    ],
)
def test_parse_peer_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_peer(text)


def test_peer_names_must_be_distinct() -> None:
    with pytest.raises(UsageError):
        Gossip("me", [Peer("a", "http://127.0.0.1:1"), Peer("a", "http://127.0.0.1:2")])
