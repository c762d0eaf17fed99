"""A real daemon (uvicorn on 127.0.0.1, port 0) on a thread, over a devnet made by init_devnet."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from nnet.encoding import UNIT
from nnet.node.core import Node
from nnet.node.server import Daemon, DaemonOptions
from nnet.services.devnet import DevnetOptions, init_devnet
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
    def node(self) -> Node:
        return self.daemon.node

    def wait_committed(self, tx_hash: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The transaction's receipt (GET /txs/HASH) once it is committed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            r = self.http.get(f"/txs/{tx_hash}")
            if r.status_code == 200 and r.json()["status"] == "committed":
                receipt: dict[str, Any] = r.json()
                return receipt
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


def devnet_init(home: Path, users: list[Account], params: dict[str, int] | None = None) -> None:
    """A devnet in `home` (10-block epochs) funding each user with FUND_NNET, made by the same
    service as `nnet devnet init` (tests/node/test_devnet_cmd.py tests the command itself)."""
    fund = {u.address: FUND_NNET * UNIT for u in users}
    init_devnet(home, DevnetOptions(epoch_blocks=10, fund=fund, params=dict(params or {})))


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningNode]:
    with run_node(tmp_path) as node:
        yield node


@contextlib.contextmanager
def run_node(
    tmp_path: Path, params: dict[str, int] | None = None, *, block_time_s: float = 0.05
) -> Iterator[RunningNode]:
    """A sequencer daemon on a thread, on a fresh devnet with `params` at genesis."""
    home = tmp_path / "seq"
    users = [account(f"node-user-{i}") for i in range(N_USERS)]
    devnet_init(home, users, params)
    daemon, thread = start_daemon(DaemonOptions(home=home, port=0, block_time_s=block_time_s))
    http = httpx.Client(base_url=daemon.url, timeout=10)
    try:
        yield RunningNode(daemon, daemon.url, http, users, home)
    finally:
        http.close()
        daemon.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()
