"""A real 4-validator network on loopback, for the fault tests (test_network_faults.py).

`start_network` makes a devnet in a temporary directory (services/devnet.py `init_devnet`) and
starts its daemons as separate processes (services/devnet_proc.py `up`); the `Network` it returns
kills, restarts and partitions them, swaps one for a Byzantine double (tests/node/byzantine.py),
reads their status, and `check_safety` asserts what every fault test must leave true:

- no two different blocks at one height on any two nodes;
- identical state roots at every height;
- GET /supply balances on every node (units held == the recorded supply, difference 0).

Whatever happens in a test, `start_network`'s context stops every process it started (the
devnet through devnet_proc.down, doubles by their pid).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from nnet.services import devnet_proc
from nnet.services.devnet import DevnetOptions, init_devnet
from nnet.services.devnet_proc import NodeProc

__all__ = [
    "BLOCK_TIME_S",
    "Network",
    "check_safety",
    "heights",
    "start_network",
    "wait_for_height",
]

BLOCK_TIME_S = 0.2  # --block-time: the pause after each decision
HTTP_TIMEOUT_S = 3.0
POLL_S = 0.1
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
BYZANTINE = Path(__file__).with_name("byzantine.py")


@dataclass
class Network:
    """A running devnet: its nodes by name (node-0 …), each validator's address by node name."""

    home: Path
    nodes: dict[str, NodeProc]
    addresses: dict[str, str]
    http: httpx.Client
    doubles: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    down_nodes: set[str] = field(default_factory=set)

    # ---- reads --------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.nodes)

    @property
    def live(self) -> list[str]:
        return [n for n in self.nodes if n not in self.down_nodes]

    def url(self, name: str) -> str:
        return self.nodes[name].url

    def get(self, name: str, path: str, **params: Any) -> Any:
        resp = self.http.get(f"{self.url(name)}{path}", params=params or None)
        resp.raise_for_status()
        return resp.json()

    def status(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = self.get(name, "/status")
        return data

    def height(self, name: str) -> int | None:
        """The node's head, None when it does not answer."""
        try:
            return int(self.status(name)["height"])
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def commit_round(self, name: str, height: int) -> int:
        """The round in which `height` was decided, from the node's commit certificate."""
        return int(self.get(name, f"/p2p/commit/{height}")["round"])

    def signers(self, name: str, height: int) -> set[str]:
        """The addresses whose precommits are in the certificate of `height` on node `name`:
        the certificate's bitmap mapped onto GET /validators?height= order."""
        cert = self.get(name, f"/p2p/commit/{height}")
        members = self.get(name, "/validators", height=height)["validators"]
        bitmap = bytes.fromhex(cert["signers"].removeprefix("0x"))
        return {
            m["address"]
            for i, m in enumerate(members)
            if i // 8 < len(bitmap) and bitmap[i // 8] >> (i % 8) & 1
        }

    # ---- faults -------------------------------------------------------------------------------
    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Stop node `name` at once (SIGKILL by default) and wait until it is gone."""
        proc = self.doubles.pop(name, None)
        pid = proc.pid if proc is not None else self.nodes[name].pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if proc is None:
            _wait_gone(pid)
        else:
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:  # a double deaf to SIGTERM
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        self.down_nodes.add(name)

    def restart(self, name: str) -> None:
        """Start the honest node `name` again, same port, peers and flags (devnet_proc)."""
        self.nodes[name] = devnet_proc.restart_node(self.home, name)
        self.down_nodes.discard(name)

    def set_faults(self, name: str, rules: list[dict[str, Any]]) -> None:
        """Write node `name`'s HOME/faults.json (atomically: the node never reads half a file)."""
        path = self.nodes[name].home / "faults.json"
        tmp = path.with_name("faults.json.tmp")
        tmp.write_text(json.dumps({"rules": rules}))
        tmp.replace(path)

    def clear_faults(self, names: Iterable[str] | None = None) -> None:
        for name in self.names if names is None else names:
            (self.nodes[name].home / "faults.json").unlink(missing_ok=True)

    def partition(self, *sides: list[str]) -> None:
        """Cut the network into `sides`: every node drops every node of the other sides."""
        for side in sides:
            others = [n for s in sides if s is not side for n in s]
            for name in side:
                self.set_faults(name, [{"peer": o, "action": "drop"} for o in others])

    def start_double(self, name: str, mode: str) -> None:
        """Replace node `name` by a Byzantine double (byzantine.py --mode `mode`), started with
        the arguments devnet_proc gives the honest node: its home, port, name, peers, flags."""
        if name not in self.down_nodes:
            self.kill(name, signal.SIGTERM)
        node = self.nodes[name]
        argv = [sys.executable, str(BYZANTINE), "--mode", mode, "--"]
        argv += ["daemon", "--home", str(node.home), "--listen", node.url.removeprefix("http://")]
        argv += ["--name", name]
        for other in self.nodes.values():
            if other.name != name:
                argv += ["--peer", f"{other.name}={other.url}"]
        argv += list(node.args)
        (node.home / "daemon.json").unlink(missing_ok=True)
        env = {**os.environ, "NNET_HOME": str(node.home)}
        with (node.home / "daemon.log").open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=node.home,
            )
        self.doubles[name] = proc
        self.down_nodes.discard(name)
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.height(name) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"the {mode} double of {name} did not start:\n{self.log(name)}"
                )
            time.sleep(POLL_S)

    def log(self, name: str, chars: int = 3000) -> str:
        """The end of node `name`'s daemon.log, for failure messages."""
        try:
            return (self.nodes[name].home / "daemon.log").read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def grep(self, name: str, word: str, lines: int = 20) -> str:
        """The last `lines` lines of node `name`'s daemon.log that contain `word`."""
        try:
            text = (self.nodes[name].home / "daemon.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join([ln for ln in text.splitlines() if word in ln][-lines:])

    def stop(self) -> None:
        """Stop the doubles, then every node devnet_proc started (even if a double would not)."""
        try:
            for name in list(self.doubles):
                self.kill(name, signal.SIGTERM)
        finally:
            devnet_proc.down(self.home, timeout_s=STOP_TIMEOUT_S)


@contextlib.contextmanager
def start_network(
    root: Path,
    *,
    validators: int = 4,
    epoch_blocks: int = 100,
    params: dict[str, int] | None = None,
) -> Iterator[Network]:
    """A devnet of `validators` nodes under `root` (devnet genesis: each validator staked and
    holding a balance, so it can pay the fee of evidence it reports), every node up and past
    height 1. Every process is stopped on the way out, whatever happened."""
    home = root / "home"
    opts = DevnetOptions(
        validators=validators, epoch_blocks=epoch_blocks, params=dict(params or {})
    )
    info = init_devnet(home, opts)
    names = [p.name for p in info.nodes]
    # a block every height though no transaction is sent: the faults are seen in heights
    started = devnet_proc.up(
        home, block_time=BLOCK_TIME_S, extra_args=["--empty-block-interval", "0"]
    )
    with httpx.Client(timeout=HTTP_TIMEOUT_S) as http:
        net = Network(
            home.absolute(),
            {n.name: n for n in started},
            dict(zip(names, info.validators, strict=True)),
            http,
        )
        try:
            wait_for_height(net, net.names, 1)
            yield net
        finally:
            net.stop()


def heights(net: Network, names: Iterable[str] | None = None) -> dict[str, int | None]:
    """Each node's head (None: it does not answer)."""
    return {n: net.height(n) for n in (net.live if names is None else names)}


def wait_for_height(
    net: Network, names: Iterable[str], height: int, timeout: float = 20.0
) -> dict[str, int]:
    """Wait until every node of `names` has finalized `height`; their heads then."""
    wanted = list(names)
    deadline = time.monotonic() + timeout
    while True:
        now = heights(net, wanted)
        if all(h is not None and h >= height for h in now.values()):
            return {n: int(h) for n, h in now.items() if h is not None}
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}:\n{net.log(n, 1500)}" for n in wanted)
            raise AssertionError(f"height {height} not reached in {timeout} s: {now}\n{logs}")
        time.sleep(POLL_S)


def _blocks(net: Network, name: str, top: int) -> list[dict[str, Any]]:
    """Blocks 1..top of node `name`, read page by page with GET /blocks."""
    out: list[dict[str, Any]] = []
    while len(out) < top:
        page = net.get(name, "/blocks", **{"from": len(out) + 1, "limit": top - len(out)})
        got = page["blocks"]
        assert got, f"{name} served no block from {len(out) + 1} (head >= {top})"
        out.extend(got)
    return out[:top]


def check_safety(net: Network, names: Iterable[str] | None = None) -> int:
    """Assert agreement and safety across the live nodes (or `names`): one block per height,
    the same state root at every height, and a balanced supply on each node. The height checked
    up to is returned."""
    wanted = list(net.live if names is None else names)
    now = heights(net, wanted)
    missing = [n for n, h in now.items() if h is None]
    assert not missing, f"nodes not answering: {missing}"
    top = min(int(h) for h in now.values() if h is not None)
    chains = {n: _blocks(net, n, top) for n in wanted}
    first = wanted[0]
    for i in range(top):
        ref = chains[first][i]
        assert ref["header"]["height"] == i + 1
        for name in wanted[1:]:
            other = chains[name][i]
            assert other["header"]["height"] == i + 1
            assert other["hash"] == ref["hash"], (
                f"fork at height {i + 1}: {first} has {ref['hash']}, {name} has {other['hash']}"
            )
            assert other["header"]["state_root"] == ref["header"]["state_root"], (
                f"state roots differ at height {i + 1} between {first} and {name}"
            )
    for name in wanted:
        supply = net.get(name, "/supply")
        assert supply["difference"] == "0", f"{name}'s supply does not balance: {supply}"
        assert supply["total"] == supply["supply"], supply
    return top


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while True:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} did not exit")
        time.sleep(0.02)
