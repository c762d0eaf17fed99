"""A real daemon (uvicorn on 127.0.0.1, port 0) on a thread, over a devnet made by the CLI."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from nnet.node.server import Daemon, DaemonOptions
from tests.chain.helpers import Account, account

N_USERS = 3
FUND_NNET = 1000


@dataclass
class RunningNode:
    daemon: Daemon
    url: str
    http: httpx.Client
    users: list[Account]
    home: Path

    @property
    def node(self):  # type: ignore[no-untyped-def]
        return self.daemon.node

    def wait_committed(self, tx_hash: str, timeout_s: float = 10.0) -> dict:  # type: ignore[type-arg]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            r = self.http.get(f"/txs/{tx_hash}")
            if r.status_code == 200 and r.json()["status"] == "committed":
                return r.json()  # type: ignore[no-any-return]
            time.sleep(0.02)
        raise AssertionError(f"{tx_hash} not committed within {timeout_s} s")


def start_daemon(opts: DaemonOptions) -> tuple[Daemon, threading.Thread]:
    daemon = Daemon(opts)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not daemon.started:
        assert time.monotonic() < deadline, "daemon did not start"
        assert thread.is_alive(), "daemon thread died"
        time.sleep(0.01)
    return daemon, thread


def devnet_init(run_cli, home: Path, users: list[Account], *extra: str) -> None:  # type: ignore[no-untyped-def]
    args = ["devnet", "init", "--json", "--epoch-blocks", "10", *extra]
    for u in users:
        args += ["--fund", f"{u.address}={FUND_NNET}"]
    result = run_cli(*args, env={"NNET_HOME": str(home)})
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def running(run_cli, tmp_path: Path) -> Iterator[RunningNode]:  # type: ignore[no-untyped-def]
    home = tmp_path / "seq"
    users = [account(f"node-user-{i}") for i in range(N_USERS)]
    devnet_init(run_cli, home, users)
    daemon, thread = start_daemon(DaemonOptions(home=home, port=0, block_time_s=0.05))
    http = httpx.Client(base_url=daemon.url, timeout=10)
    try:
        yield RunningNode(daemon, daemon.url, http, users, home)
    finally:
        http.close()
        daemon.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()
