"""What strangers can make the daemon hold: connections, request heads, file descriptors, Hosts.

uvicorn's HTTP protocols arm their keep-alive timer only after a response, so a connection that
never sends a request (or sends its head one byte at a time) lives forever; with no cap, a few
hundred such sockets exhaust the file limit and accept() fails (EMFILE) for every honest client.
`guarded_protocol` closes that hole with a uvicorn h11 protocol subclass that:

- gives every connection `header_timeout_s` from the moment it opens (or its previous response
  ends) to deliver a complete request head, however it trickles in; then closes it;
- caps open connections: a connection over the cap first evicts the connection that has waited
  longest without a request in flight (an idle keep-alive, or a socket that sent nothing yet);
  when every connection is busy, its request is answered 503 {"code": "overloaded"} and closed.

`effective_max_connections` keeps the cap under RLIMIT_NOFILE (raised to its hard limit first by
`raise_nofile_limit`), so the daemon runs out of connection slots, never out of descriptors.

`HostCheck` refuses (403 {"code": "bad_host"}) requests whose Host header names something this
daemon was not bound as, so a web page whose name rebinds to 127.0.0.1 cannot reach the API.
`is_disk_full` recognises ENOSPC and SQLite's "database or disk is full" through exception chains.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import json
import logging
import resource
import sqlite3
from collections.abc import Iterable
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "ACCEPT_BATCH",
    "FD_RESERVE",
    "ConnectionGuard",
    "HostCheck",
    "HostPolicy",
    "effective_max_connections",
    "guarded_protocol",
    "is_disk_full",
    "raise_nofile_limit",
]

log = logging.getLogger("nnet.http")

# descriptors kept back from connections: the database and its WAL, blob files being written,
# connections to peers, the event loop's own, stdio
FD_RESERVE = 64
MIN_CONNECTIONS = 8
# sockets asyncio accepts per wakeup (uvicorn's `backlog`), each holding a descriptor before the
# guard sees it: a few batches in flight must fit in FD_RESERVE
ACCEPT_BATCH = 8


def raise_nofile_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or (soft != resource.RLIM_INFINITY and soft >= target):
        return int(soft) if soft != resource.RLIM_INFINITY else target
    for want in (target, 65536):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            return want
        except (ValueError, OSError):
            continue
    return int(soft)


def effective_max_connections(configured: int, nofile: int) -> int:
    """The connection cap: the configured one, lowered to leave FD_RESERVE descriptors free."""
    return max(MIN_CONNECTIONS, min(configured, nofile - FD_RESERVE))


class ConnectionGuard:
    """Shared state of one server's connections (the protocol instances consult it)."""

    def __init__(self, max_connections: int, header_timeout_s: float) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.open: set[Any] = set()
        # connections with no request in flight, longest-waiting first (dicts keep order)
        self.waiting: dict[Any, None] = {}
        self.evicted = 0  # closed to make room for a newer connection
        self.shed = 0  # answered 503 overloaded
        self.timed_out = 0  # closed for not sending a request head in time

    def evict_one(self, exclude: Any) -> bool:
        """Close the connection that has waited longest without a request; whether one was."""
        for proto in self.waiting:
            if proto is not exclude:
                proto.close_idle()
                self.evicted += 1
                return True
        return False


async def _overloaded(scope: Any, receive: Any, send: Any) -> None:
    body = json.dumps(
        {"error": "the node has too many open connections; retry shortly", "code": "overloaded"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and the guard's connection cap."""

    guard: ConnectionGuard

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        guard = self.guard
        guard.open.add(self)
        if len(guard.open) > guard.max_connections and not guard.evict_one(exclude=self):
            guard.shed += 1
            self.app = _overloaded  # its request, when it comes, is answered 503 and closed
            log.warning("connection cap (%d) reached: answering 503", guard.max_connections)
        self._await_head()

    def _await_head(self) -> None:
        self._head_timer = self.loop.call_later(self.guard.header_timeout_s, self._head_timeout)
        self.guard.waiting[self] = None

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.guard.waiting.pop(self, None)

    def _head_timeout(self) -> None:
        self._head_timer = None
        self.guard.timed_out += 1
        self.close_idle()

    def close_idle(self) -> None:
        """Close a connection that has no request in flight (h11 says goodbye first)."""
        self._head_arrived()
        self.guard.open.discard(self)
        if not self.transport.is_closing():
            if self.conn.our_state is not h11.ERROR:
                with contextlib.suppress(h11.LocalProtocolError):
                    self.conn.send(h11.ConnectionClosed())
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is not None and self.conn.their_state is not h11.IDLE:
            self._head_arrived()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # waiting for the next request head now (unless a pipelined one was already there)
        if (
            not self.transport.is_closing()
            and self.conn.their_state is h11.IDLE
            and self._head_timer is None
        ):
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        self.guard.open.discard(self)
        super().connection_lost(exc)


def guarded_protocol(guard: ConnectionGuard) -> type[H11Protocol]:
    """A protocol class for uvicorn.Config(http=...) bound to `guard`."""
    return type("GuardedH11Protocol", (_GuardedH11Protocol,), {"guard": guard})


# ---- Host header ---------------------------------------------------------------------------


def _host_name(value: str) -> str:
    """The host of a Host header value, lower case, without port, brackets or trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _is_loopback(name: str) -> bool:
    ip = _ip(name)
    return name == "localhost" or (ip is not None and ip.is_loopback)


class HostPolicy:
    """Which Host headers a daemon bound to `bind_host` answers (see docs/operations.md).

    Bound to a loopback address: loopback names and IPs only. Bound to one other address: that
    address and loopback. Bound to a wildcard (0.0.0.0, ::): any IP literal and localhost.
    Always also the names in `allowed_hosts`; "*" there turns the check off."""

    def __init__(self, bind_host: str, allowed_hosts: Iterable[str] = ()) -> None:
        self.extra = {_host_name(h) for h in allowed_hosts}
        self.any = "*" in self.extra
        bind = _ip(_host_name(bind_host))
        self.bind = bind
        self.wildcard = bind is not None and bind.is_unspecified

    def allows(self, host: str) -> bool:
        name = _host_name(host)
        if self.any or name in self.extra or _is_loopback(name):
            return True
        ip = _ip(name)
        if ip is None:
            return False
        return self.wildcard or ip == self.bind


class HostCheck:
    """ASGI middleware: 403 {"code": "bad_host"} for a Host the policy refuses. A request with
    no Host at all (HTTP/1.0) passes: browsers always send one."""

    def __init__(self, app: Any, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"host":
                    host = value.decode("latin-1")
                    if not self.policy.allows(host):
                        await _refuse_host(send, host)
                        return
                    break
        await self.app(scope, receive, send)


async def _refuse_host(send: Any, host: str) -> None:
    body = json.dumps(
        {
            "error": f"this node does not answer to Host {host[:100]!r}; "
            "add it to allowed_hosts in daemon.toml if it is really this node's name",
            "code": "bad_host",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ---- disk full -----------------------------------------------------------------------------


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT or SQLite's SQLITE_FULL anywhere in the exception's cause/context chain
    (a failed ROLLBACK after a full disk must not hide why)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(e, sqlite3.Error) and (
            getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
            or "database or disk is full" in str(e)
        ):
            return True
        e = e.__cause__ or e.__context__
    return False
