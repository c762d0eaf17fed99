"""Gossip between validators over HTTP: pushing consensus messages and transactions to every peer,
and the /p2p/ routes that receive them.

Sending (`Gossip`): each peer has its own worker task and two bounded queues, consensus messages
(sent first) and transaction lines. The worker POSTs what is queued in batches, up to
CONSENSUS_BATCH messages as one JSON array to {url}/p2p/consensus, up to TXS_BATCH NDJSON lines to
{url}/p2p/txs, each batch at most MAX_BATCH_BYTES, with the header `x-nnet-peer: <me>`. A transport
error or a 5xx is retried `retries` times with backoff, then the batch is given up: the consensus
driver re-broadcasts its messages periodically, so a lost batch costs a round trip, not liveness.
A full queue drops its oldest item. One slow or dead peer holds up only its own worker.

Every outbound request (pushes and the sync GETs of `Gossip.get`) goes through the node's fault
plan (node/faults.py): dropped, delayed or sent twice. Inbound /p2p/ requests whose `x-nnet-peer`
names a peer the plan drops are refused 503 `fault_dropped`, so one file partitions a node both
ways.

Receiving (`p2p_routes`): POST /p2p/consensus (a JSON array of at most MAX_MESSAGES objects),
POST /p2p/txs (NDJSON, handed to the handler as is), GET /p2p/commit/{height}; bodies up to
MAX_BODY_BYTES. The handler (`P2PHandler`) is the consensus driver; errors answer
{"error", "code"} as the rest of the API does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nnet.encoding import strict_loads
from nnet.errors import MalformedInput, NnetError, NodeUnreachable, NotFound, UsageError
from nnet.node.app import read_body
from nnet.node.faults import NO_FAULT, FaultPlan

__all__ = [
    "BACKOFF_S",
    "CONSENSUS_BATCH",
    "MAX_BATCH_BYTES",
    "MAX_BODY_BYTES",
    "MAX_MESSAGES",
    "PEER_HEADER",
    "TXS_BATCH",
    "Gossip",
    "P2PHandler",
    "Peer",
    "PeerStats",
    "p2p_routes",
    "parse_peer",
]

log = logging.getLogger("nnet.p2p")

PEER_HEADER = "x-nnet-peer"
CONSENSUS_BATCH = 256  # consensus messages per POST
TXS_BATCH = 2_000  # transaction lines per POST
MAX_BATCH_BYTES = 8 * 1024 * 1024  # a batch stays well under the receiver's MAX_BODY_BYTES
MAX_BODY_BYTES = 16 * 1024 * 1024  # the most a /p2p/ POST may carry
MAX_MESSAGES = 1_000  # consensus messages in one POST
MAX_PEER_HEADER = 300  # a peer's name, or its URL when it has none
BACKOFF_S = (0.05, 0.2, 1.0)  # pause before each retry (the last one repeats)

_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)


@dataclass(frozen=True)
class Peer:
    """A gossip peer: its name (what it calls itself in `x-nnet-peer`) and its base URL."""

    name: str
    url: str


def _check_url(url: str) -> str:
    """`url` as http(s)://host:port (no trailing slash), or UsageError saying what is wrong."""
    problem = f"peer URL {url!r} must be http://HOST:PORT or https://HOST:PORT"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(problem)
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"{problem}, without user or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in url or "#" in url:
        raise UsageError(f"{problem}, without a path, query or fragment")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"{problem}: the port is not a number from 1 to 65535") from None
    if port is None or port == 0:
        raise UsageError(f"{problem}: it names no port")
    return f"{parts.scheme}://{parts.netloc}"


def parse_peer(text: str) -> Peer:
    """A `--peer` value: NAME=URL, or URL alone (the peer is then named by its URL)."""
    text = text.strip()
    if "=" in text:
        name, _, url = text.partition("=")
        if not _NAME.fullmatch(name):
            raise UsageError(
                f"peer name {name!r} must be 1 to 64 letters, digits, '.', '_' or '-'",
                hint="a peer is NAME=http://HOST:PORT",
            )
        return Peer(name, _check_url(url))
    url = _check_url(text)
    return Peer(url, url)


@dataclass
class PeerStats:
    """Messages (consensus messages or transaction lines) per outcome, for /metrics."""

    sent: int = 0  # delivered: the peer answered 2xx
    failed: int = 0  # given up after the retries, or refused by the peer (4xx)
    dropped: int = 0  # pushed out of a full queue before they were sent
    faulted: int = 0  # withheld by a drop rule of the fault plan


@dataclass
class _Link:
    """One peer's queues, worker and counters."""

    peer: Peer
    consensus: deque[str] = field(default_factory=deque)  # JSON texts
    txs: deque[str] = field(default_factory=deque)  # NDJSON lines
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stats: PeerStats = field(default_factory=PeerStats)
    task: asyncio.Task[None] | None = None


def _take(queue: deque[str], count: int) -> list[str]:
    """Up to `count` items from the front of `queue`, at most MAX_BATCH_BYTES of them (at least
    one, however large: the receiver judges it)."""
    batch: list[str] = []
    size = 0
    while queue and len(batch) < count:
        size += len(queue[0]) + 1
        if batch and size > MAX_BATCH_BYTES:
            break
        batch.append(queue.popleft())
    return batch


class Gossip:
    """Pushes consensus messages and transactions to every peer; see the module docstring.

    `send_consensus` and `send_txs` are called on the event loop and never wait; `start()` (inside
    the running loop) starts one worker per peer, `close()` stops them.
    """

    def __init__(
        self,
        me: str,
        peers: list[Peer],
        *,
        faults: FaultPlan | None = None,
        client: httpx.AsyncClient | None = None,
        max_queue: int = 10_000,
        retries: int = 3,
        backoff: Sequence[float] = BACKOFF_S,
    ) -> None:
        if max_queue < 1 or retries < 0 or not backoff:
            raise ValueError("max_queue must be >= 1, retries >= 0, backoff non-empty")
        self.me = me
        self.peers = list(peers)
        self.faults = faults
        self.max_queue = max_queue
        self.retries = retries
        self.backoff = tuple(backoff)
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0))
        self._links = {p.name: _Link(p) for p in self.peers}
        if len(self._links) != len(self.peers):
            raise UsageError("two peers have the same name")

    def stats(self) -> dict[str, PeerStats]:
        """Counters per peer name."""
        return {name: link.stats for name, link in self._links.items()}

    def queued(self, peer: str) -> int:
        """Items waiting for `peer` (consensus messages and transaction lines)."""
        link = self._links[peer]
        return len(link.consensus) + len(link.txs)

    def _enqueue(self, link: _Link, queue: deque[str], item: str) -> None:
        if len(queue) >= self.max_queue:
            queue.popleft()
            link.stats.dropped += 1
        queue.append(item)
        link.wake.set()

    def send_consensus(self, msg: dict[str, Any]) -> None:
        """Queue one consensus message for every peer (serialised now, once)."""
        text = json.dumps(msg, separators=(",", ":"))
        for link in self._links.values():
            self._enqueue(link, link.consensus, text)

    def send_txs(self, lines: list[str]) -> None:
        """Queue signed transactions, one JSON text each, for every peer."""
        clean = [line.strip() for line in lines]
        for line in clean:
            if "\n" in line or "\r" in line:
                raise MalformedInput("a transaction line holds a line break")
        for line in clean:
            if not line:
                continue
            for link in self._links.values():
                self._enqueue(link, link.txs, line)

    def start(self) -> None:
        """Start one worker per peer (call from inside the running event loop)."""
        for link in self._links.values():
            if link.task is None or link.task.done():
                link.task = asyncio.get_running_loop().create_task(
                    self._work(link), name=f"gossip:{link.peer.name}"
                )

    async def close(self) -> None:
        """Stop the workers (what is still queued is not sent) and close an own client."""
        tasks = [link.task for link in self._links.values() if link.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._own_client:
            await self.client.aclose()

    async def _work(self, link: _Link) -> None:
        while True:
            if not link.consensus and not link.txs:
                link.wake.clear()
                await link.wake.wait()
            try:
                await self._send_some(link)
            except Exception:  # a worker that died would silence this peer for good
                log.exception("gossip to %s failed", link.peer.name)
                await asyncio.sleep(self.backoff[-1])

    async def _send_some(self, link: _Link) -> None:
        """One batch of each non-empty queue, consensus first."""
        if link.consensus:
            batch = _take(link.consensus, CONSENSUS_BATCH)
            body = ("[" + ",".join(batch) + "]").encode()
            await self._deliver(link, "/p2p/consensus", body, "application/json", len(batch))
        if link.txs:
            batch = _take(link.txs, TXS_BATCH)
            body = ("\n".join(batch) + "\n").encode()
            await self._deliver(link, "/p2p/txs", body, "application/x-ndjson", len(batch))

    async def _deliver(self, link: _Link, path: str, body: bytes, ctype: str, count: int) -> None:
        fault = self.faults.decide(link.peer.name) if self.faults is not None else NO_FAULT
        if fault.drop:
            link.stats.faulted += count
            return
        if fault.delay_s > 0:
            await asyncio.sleep(fault.delay_s)
        ok = False
        for _ in range(fault.copies):
            ok = await self._post(link.peer, path, body, ctype)
        if ok:
            link.stats.sent += count
        else:
            link.stats.failed += count

    async def _post(self, peer: Peer, path: str, body: bytes, ctype: str) -> bool:
        """POST with bounded retries on transport errors and 5xx; whether the peer took it."""
        headers = {PEER_HEADER: self.me, "content-type": ctype}
        why = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff[min(attempt - 1, len(self.backoff) - 1)])
            try:
                resp = await self.client.post(peer.url + path, content=body, headers=headers)
            except httpx.HTTPError as e:  # transport errors, mostly; all worth another try
                why = f"{type(e).__name__}: {e}"
                continue
            if resp.is_success:
                return True
            why = f"HTTP {resp.status_code}: {resp.text[:200]}"
            if resp.status_code < 500:
                break  # the peer refused this batch: sending it again would not change that
        log.debug("gossip to %s %s given up: %s", peer.name, path, why)
        return False

    async def get(
        self, peer: Peer, path: str, params: dict[str, Any] | None = None, timeout: float = 5.0
    ) -> httpx.Response:
        """GET {peer.url}{path} through the fault plan (for sync); NodeUnreachable when the request
        is dropped or the peer cannot be reached. Any HTTP status comes back as is."""
        if not path.startswith("/"):
            raise ValueError(f"path {path!r} must start with '/'")
        fault = self.faults.decide(peer.name) if self.faults is not None else NO_FAULT
        if fault.drop:
            raise NodeUnreachable(f"{peer.name}: dropped by fault rule")
        if fault.delay_s > 0:
            await asyncio.sleep(fault.delay_s)
        resp: httpx.Response | None = None
        for _ in range(fault.copies):
            try:
                resp = await self.client.get(
                    peer.url + path, params=params, headers={PEER_HEADER: self.me}, timeout=timeout
                )
            except httpx.TransportError as e:
                raise NodeUnreachable(f"{peer.name} ({peer.url}): {type(e).__name__}: {e}") from e
        assert resp is not None  # copies >= 1
        return resp


class P2PHandler(Protocol):
    """What receives gossip: the consensus driver."""

    async def on_consensus(self, messages: list[dict[str, Any]], peer: str) -> None: ...

    async def on_txs(self, body: bytes, content_type: str) -> dict[str, Any]: ...

    def commit(self, height: int) -> dict[str, Any] | None: ...


Endpoint = Callable[[Request], Awaitable[Response]]


def _error(e: NnetError) -> JSONResponse:
    return JSONResponse({"error": e.one_line(), "code": e.code}, status_code=e.http_status)


def p2p_routes(
    handler: P2PHandler, faults: FaultPlan | None, *, max_body_bytes: int = MAX_BODY_BYTES
) -> list[Route]:
    """The /p2p/ routes serving `handler`, refusing peers that `faults` drops."""

    def guarded(endpoint: Callable[[Request, str], Awaitable[Response]]) -> Endpoint:
        async def serve(request: Request) -> Response:
            peer = request.headers.get(PEER_HEADER, "")
            if len(peer) > MAX_PEER_HEADER:
                return _error(MalformedInput(f"{PEER_HEADER} is over {MAX_PEER_HEADER} characters"))
            if peer and faults is not None and faults.drops(peer):
                return JSONResponse(
                    {"error": "dropped by fault rule", "code": "fault_dropped"}, status_code=503
                )
            try:
                return await endpoint(request, peer)
            except NnetError as e:
                return _error(e)

        return serve

    async def consensus(request: Request, peer: str) -> Response:
        body = await read_body(request, max_body_bytes)
        messages = strict_loads(body)
        if not isinstance(messages, list):
            raise MalformedInput("the body must be a JSON array of consensus messages")
        if len(messages) > MAX_MESSAGES:
            raise MalformedInput(f"{len(messages)} messages; the limit is {MAX_MESSAGES} a request")
        if not all(isinstance(m, dict) for m in messages):
            raise MalformedInput("every consensus message must be a JSON object")
        await handler.on_consensus(messages, peer)
        return JSONResponse({"received": len(messages)}, status_code=202)

    async def txs(request: Request, peer: str) -> Response:
        body = await read_body(request, max_body_bytes)
        result = await handler.on_txs(body, request.headers.get("content-type", ""))
        return JSONResponse(result, status_code=202)

    async def commit(request: Request, peer: str) -> Response:
        text = request.path_params["height"]
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise MalformedInput("height must be a non-negative integer")
        certificate = handler.commit(int(text))
        if certificate is None:
            raise NotFound(f"no commit certificate for height {int(text)} here")
        return JSONResponse(certificate)

    return [
        Route("/p2p/consensus", guarded(consensus), methods=["POST"]),
        Route("/p2p/txs", guarded(txs), methods=["POST"]),
        Route("/p2p/commit/{height}", guarded(commit), methods=["GET"]),
    ]
