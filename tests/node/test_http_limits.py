"""Connections under abuse, with real sockets against a real daemon: the cap, the header deadline,
file-descriptor exhaustion, and the Host check against DNS rebinding."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nnet.node.limits import (
    FD_RESERVE,
    HostPolicy,
    effective_max_connections,
    raise_nofile_limit,
)
from nnet.node.server import Daemon, DaemonOptions
from tests.chain.helpers import account
from tests.node.conftest import devnet_init, start_daemon

MakeDaemon = Callable[..., Daemon]


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[MakeDaemon]:
    """make_daemon(**DaemonOptions fields) -> a daemon on its own fresh devnet, stopped after."""
    started: list[tuple[Daemon, threading.Thread]] = []

    def make(**opts: Any) -> Daemon:
        home = tmp_path / f"home{len(started)}"
        devnet_init(home, [account("limits-user")])
        daemon, thread = start_daemon(DaemonOptions(home=home, port=0, block_time_s=0.05, **opts))
        started.append((daemon, thread))
        return daemon

    yield make
    for daemon, thread in started:
        daemon.stop()
        thread.join(timeout=10)


def _addr(daemon: Daemon) -> tuple[str, int]:
    host, _, port = daemon.url.removeprefix("http://").rpartition(":")
    return host, int(port)


def _connect(daemon: Daemon, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(_addr(daemon), timeout=10)
        socks.append(s)
    return socks


def _closed_by_server(s: socket.socket, within_s: float = 10.0) -> bool:
    """True if the server closed the socket (EOF or reset) before `within_s`; False if not."""
    s.settimeout(within_s)
    try:
        return s.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _wait_for(predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_idle_sockets_over_the_cap_do_not_lock_out_an_honest_client(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon(max_connections=20, header_timeout_s=60)
    idle = _connect(daemon, 60)  # three times the cap, none sends a byte
    try:
        _wait_for(lambda: daemon.guard.evicted >= 40)
        r = httpx.get(f"{daemon.url}/status", timeout=10)
        assert r.status_code == 200 and r.json()["sync"] == "sequencer"
        assert len(daemon.guard.open) <= 20
        # the oldest idle sockets made room: the server closed them
        assert _closed_by_server(idle[0])
    finally:
        for s in idle:
            s.close()


def test_busy_connections_over_the_cap_are_answered_503_overloaded(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon(max_connections=10, header_timeout_s=60)
    busy = _connect(daemon, 10)
    try:
        for s in busy:  # a request head, then a body that never finishes: a request in flight
            s.sendall(b"POST /txs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{")
        _wait_for(lambda: not daemon.guard.waiting)
        r = httpx.get(f"{daemon.url}/status", timeout=10)
        assert r.status_code == 503
        assert r.json()["code"] == "overloaded" and r.headers["retry-after"] == "1"
        assert daemon.guard.shed == 1
    finally:
        for s in busy:
            s.close()
    # once they are gone, the next client is served again
    _wait_for(lambda: len(daemon.guard.open) == 0)
    assert httpx.get(f"{daemon.url}/status", timeout=10).status_code == 200


def test_a_socket_that_sends_no_request_head_is_closed_at_the_deadline(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon(header_timeout_s=0.3)
    silent, trickle, served = _connect(daemon, 3)
    try:
        trickle.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never the blank line
        served.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _closed_by_server(silent)
        assert _closed_by_server(trickle)
        assert daemon.guard.timed_out >= 2
        served.settimeout(10)
        assert served.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for s in (silent, trickle, served):
            s.close()


def test_connection_cap_stays_under_the_file_limit() -> None:
    assert effective_max_connections(1024, 256) == 256 - FD_RESERVE
    assert effective_max_connections(100, 100_000) == 100
    assert effective_max_connections(1024, 10) >= 8  # never zero
    soft = raise_nofile_limit()
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard == resource.RLIM_INFINITY or soft == hard


_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
from nnet.cli import main
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_honest_client_is_served_under_fd_exhaustion(tmp_path: Path) -> None:
    """The issue's probe: 500 idle sockets against a daemon whose file limit is 256."""
    ours = raise_nofile_limit()
    if ours < 800:
        pytest.skip(f"this test process may open only {ours} files")
    home = tmp_path / "home"
    devnet_init(home, [account("fd-user")])
    env = {**os.environ, "NNET_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, "daemon", "--listen", "127.0.0.1:0", "--block-time", "0.1"],
        env=env,
        stderr=subprocess.PIPE,
    )
    idle: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while not (home / "daemon.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        url = json.loads((home / "daemon.json").read_text())["url"]
        host, _, port = url.removeprefix("http://").rpartition(":")
        for _ in range(500):
            idle.append(socket.create_connection((host, int(port)), timeout=10))
        for _ in range(5):
            r = httpx.get(f"{url}/status", timeout=10)
            assert r.status_code == 200
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        line = next(ln for ln in metrics.splitlines() if ln.startswith("nnet_http_connections "))
        assert float(line.split()[1]) <= 256 - FD_RESERVE
    finally:
        for s in idle:
            s.close()
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert b"max_connections lowered from 1024 to 192" in err


def test_dns_rebinding_host_is_refused_on_loopback(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()
    port = _addr(daemon)[1]
    for host in ("evil.example", f"evil.example:{port}", "10.0.0.1", "localhost.evil.example"):
        r = httpx.get(f"{daemon.url}/status", headers={"host": host})
        assert r.status_code == 403 and r.json()["code"] == "bad_host", host
    for host in ("127.0.0.1", f"127.0.0.1:{port}", "localhost", f"LOCALHOST:{port}", "[::1]:1"):
        assert httpx.get(f"{daemon.url}/status", headers={"host": host}).status_code == 200


def test_allowed_hosts_are_answered(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon(allowed_hosts=["node.example"])
    assert httpx.get(f"{daemon.url}/status", headers={"host": "node.example:80"}).is_success
    assert httpx.get(f"{daemon.url}/status", headers={"host": "other.example"}).status_code == 403


def test_host_policy_by_bound_address() -> None:
    loopback = HostPolicy("127.0.0.1")
    assert loopback.allows("127.0.0.1:7654") and loopback.allows("[::1]:7654")
    assert not loopback.allows("192.168.1.5") and not loopback.allows("attacker.test")
    one = HostPolicy("192.168.1.5", ["node.lan"])
    assert one.allows("192.168.1.5:7654") and one.allows("localhost") and one.allows("NODE.LAN")
    assert not one.allows("192.168.1.6") and not one.allows("attacker.test")
    wildcard = HostPolicy("0.0.0.0")
    assert wildcard.allows("10.1.2.3:7654") and wildcard.allows("[fe80::1]:7654")
    assert not wildcard.allows("attacker.test")
    assert HostPolicy("127.0.0.1", ["*"]).allows("anything.test")
