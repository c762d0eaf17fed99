"""Starting and stopping a devnet's daemons: what `nnet devnet up` and `nnet devnet down` do.

Each node is a detached `python -m nnet daemon` process (its own session, so it outlives the
command that started it), logging to NODE_HOME/daemon.log. `up` records what it started, for
`down` and `restart_node` to find:

    HOME/devnet/network.json   a network (HOME/devnet holds node homes): one entry per node
    HOME/network.json          a single sequencer home: one entry
    [{"name", "url", "pid", "home", "args"}]     args: the extra daemon flags it was started with

In network mode `up` also writes HOME/daemon.json {"url", "pid"} naming node-0, so every client
command run from HOME reaches the network unconfigured; a single daemon writes its own.

A recorded pid counts as one of ours only while it is alive and its command line (Linux: /proc)
is a daemon of that node home, so a pid reused by an unrelated process after a reboot is never
signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from nnet.config import running_daemon
from nnet.errors import MalformedInput, NotFound, UsageError
from nnet.services.devnet import DEVNET_DIR, node_homes

__all__ = [
    "NETWORK_FILE",
    "NodeProc",
    "NodeStop",
    "down",
    "record_path",
    "restart_node",
    "running_nodes",
    "up",
]

NETWORK_FILE = "network.json"
START_TIMEOUT_S = 30.0  # for every node to write daemon.json and answer /health
KILL_WAIT_S = 5.0  # after SIGKILL, for the kernel to take the process away
LOG_TAIL_CHARS = 2000  # of a node's daemon.log, in the error when it does not start
POLL_S = 0.05
EMPTY_BLOCKS_FLAG = "--empty-block-interval"
DEVNET_EMPTY_BLOCK_INTERVAL_S = 1.0


@dataclass(frozen=True)
class NodeProc:
    """One daemon that `up` started."""

    name: str
    url: str
    pid: int
    home: Path
    args: tuple[str, ...] = ()  # extra daemon flags (--block-time …), reused by restart_node

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "pid": self.pid, "home": str(self.home)}

    def to_record(self) -> dict[str, Any]:
        return {**self.to_dict(), "args": list(self.args)}


@dataclass(frozen=True)
class NodeStop:
    """What `down` did to one node: "term" (stopped on SIGTERM), "kill" (needed SIGKILL), or
    "gone" (it was not running)."""

    name: str
    pid: int
    stopped: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "stopped": self.stopped}


@dataclass
class _Start:
    """A node being started: its plan, then its process."""

    name: str
    home: Path
    listen: str
    peers: list[str] = field(default_factory=list)  # NAME=URL, for --peer
    proc: subprocess.Popen[bytes] | None = None


def record_path(home: Path) -> Path:
    """Where `up` records what it started on this home (network or single home)."""
    if (home / DEVNET_DIR).is_dir():
        return home / DEVNET_DIR / NETWORK_FILE
    return home / NETWORK_FILE


def running_nodes(home: Path) -> list[NodeProc]:
    """The recorded nodes of this home that are still running."""
    return [n for _, nodes in _records(home) for n in nodes if _running(n)]


def up(
    home: Path, *, block_time: float | None = None, extra_args: Sequence[str] = ()
) -> list[NodeProc]:
    """Start the devnet of `home`: every node of its network on free loopback ports, or its one
    sequencer daemon. Returns once each answers GET /health; if one does not within 30 s, stops
    what was started and raises a UsageError with the end of that node's log."""
    home = home.absolute()
    live = running_nodes(home)
    if live:
        raise UsageError(
            f"the devnet on {home} is already up ({live[0].name}, pid {live[0].pid})",
            hint="stop it with `nnet devnet down` first",
        )
    args = (*(["--block-time", repr(block_time)] if block_time is not None else []), *extra_args)
    nodes = node_homes(home)
    network = bool(nodes)
    if network and EMPTY_BLOCKS_FLAG not in args:
        # a devnet is watched by people: an idle one still shows a block a second (a daemon's
        # own default, block_time x epoch_blocks / 10, is 10 s with the defaults)
        args = (*args, EMPTY_BLOCKS_FLAG, str(DEVNET_EMPTY_BLOCK_INTERVAL_S))
    if not network and not (home / "genesis.json").exists():
        raise UsageError(f"no devnet in {home}", hint="make one with `nnet devnet init`")
    for path in nodes or [home]:
        info = running_daemon(path)
        if info:
            raise UsageError(
                f"a daemon (pid {info['pid']}) is already running on {path}",
                hint="stop it first; `nnet devnet up` starts its own",
            )
    if network:
        ports = _free_ports(len(nodes))
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        plan = [
            _Start(
                p.name,
                p,
                f"127.0.0.1:{ports[i]}",
                [f"{q.name}={urls[j]}" for j, q in enumerate(nodes) if j != i],
            )
            for i, p in enumerate(nodes)
        ]
    else:
        plan = [_Start("node-0", home, "127.0.0.1:0")]
    started = _start_all(plan, args, network)
    _write_json(record_path(home), [n.to_record() for n in started])
    if network:
        _write_json(home / "daemon.json", {"url": started[0].url, "pid": started[0].pid})
    return started


def restart_node(home: Path, name: str) -> NodeProc:
    """Start node NAME of a devnet that is up again (after a crash or a kill -9), with the same
    port, peers and flags; the record (and HOME/daemon.json for node-0) names its new pid."""
    home = home.absolute()
    path = record_path(home)
    nodes = _read_record(path)
    if not nodes:
        raise UsageError(f"no devnet is up on {home}", hint="start it with `nnet devnet up`")
    index = next((i for i, n in enumerate(nodes) if n.name == name), None)
    if index is None:
        raise NotFound(
            f"no node named {name!r} in {path}", hint=f"nodes: {', '.join(n.name for n in nodes)}"
        )
    node = nodes[index]
    if _running(node):
        raise UsageError(f"{name} is running (pid {node.pid})", hint="stop it before restarting")
    _remove_daemon_json(node.home / "daemon.json", node.pid)  # a killed daemon leaves its own
    network = path.parent.name == DEVNET_DIR
    listen = node.url.removeprefix("http://")
    peers = [f"{n.name}={n.url}" for n in nodes if n.name != name] if network else []
    [new] = _start_all([_Start(name, node.home, listen, peers)], node.args, network)
    nodes[index] = replace(new, args=node.args)
    _write_json(path, [n.to_record() for n in nodes])
    if network and index == 0:
        _write_json(home / "daemon.json", {"url": new.url, "pid": new.pid})
    return nodes[index]


def down(home: Path, timeout_s: float = 10.0) -> list[NodeStop]:
    """Stop every node `up` recorded on this home: SIGTERM, then SIGKILL after `timeout_s`.
    Removes the record and the daemon.json files that name them. Nothing recorded: []."""
    home = home.absolute()
    stops: list[NodeStop] = []
    for path, nodes in _records(home):
        running = [n for n in nodes if _running(n)]
        for node in running:
            _signal(node.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(_alive(n.pid) for n in running) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        killed = {n.pid for n in running if _alive(n.pid)}
        for pid in killed:
            _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + KILL_WAIT_S
        while any(_alive(pid) for pid in killed) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        for node in nodes:
            how = "gone" if node not in running else "kill" if node.pid in killed else "term"
            stops.append(NodeStop(node.name, node.pid, how))
            _remove_daemon_json(node.home / "daemon.json", node.pid)
            _remove_daemon_json(home / "daemon.json", node.pid)
        path.unlink(missing_ok=True)
    return stops


# ---- starting ---------------------------------------------------------------------------------
def _free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports free right now (all held open together, then released)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _argv(start: _Start, args: Sequence[str], network: bool) -> list[str]:
    argv = [sys.executable, "-m", "nnet", "daemon", "--home", str(start.home)]
    argv += ["--listen", start.listen]
    if network:
        argv += ["--name", start.name]
        for peer in start.peers:
            argv += ["--peer", peer]
    return argv + list(args)


def _spawn(start: _Start, args: Sequence[str], network: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NNET_HOME": str(start.home)}
    with (start.home / "daemon.log").open("ab") as log:
        return subprocess.Popen(
            _argv(start, args, network),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=start.home,
            start_new_session=True,  # detached: not stopped by the terminal's Ctrl-C
        )


def _start_all(plan: list[_Start], args: Sequence[str], network: bool) -> list[NodeProc]:
    """Spawn every planned node, then wait until each is up; on a failure stop them all."""
    try:
        for start in plan:
            start.proc = _spawn(start, args, network)
        urls = _wait_ready(plan, time.monotonic() + START_TIMEOUT_S)
    except BaseException:
        pids = [s.proc.pid for s in plan if s.proc is not None]
        _stop_pids(pids)
        for start in plan:
            if start.proc is not None:
                start.proc.wait(timeout=KILL_WAIT_S)
                _remove_daemon_json(start.home / "daemon.json", start.proc.pid)
        raise
    return [
        NodeProc(s.name, urls[s.name], s.proc.pid, s.home, tuple(args))
        for s in plan
        if s.proc is not None
    ]


def _wait_ready(plan: list[_Start], deadline: float) -> dict[str, str]:
    """name -> URL once each node's daemon.json names its process and GET /health answers."""
    ready: dict[str, str] = {}
    with httpx.Client(timeout=2.0) as http:
        while len(ready) < len(plan):
            for start in plan:
                if start.name in ready or start.proc is None:
                    continue
                code = start.proc.poll()
                if code is not None:
                    raise _start_failed(start, f"it exited with status {code}")
                url = _daemon_url(start.home, start.proc.pid)
                if url is None:
                    continue
                try:
                    http.get(f"{url}/health")  # any answer: it serves (503 may just be "stale")
                except httpx.HTTPError:
                    continue
                ready[start.name] = url
            if len(ready) < len(plan):
                if time.monotonic() > deadline:
                    late = next(s for s in plan if s.name not in ready)
                    raise _start_failed(late, f"it did not answer within {START_TIMEOUT_S:.0f} s")
                time.sleep(POLL_S)
    return ready


def _daemon_url(node_home: Path, pid: int) -> str | None:
    try:
        info = json.loads((node_home / "daemon.json").read_text())
    except (OSError, ValueError):
        return None
    url = info.get("url") if isinstance(info, dict) and info.get("pid") == pid else None
    return url if isinstance(url, str) else None


def _start_failed(start: _Start, why: str) -> UsageError:
    log = start.home / "daemon.log"
    try:
        tail = log.read_text(errors="replace")[-LOG_TAIL_CHARS:].strip()
    except OSError:
        tail = ""
    return UsageError(
        f"{start.name} did not start: {why}; the end of {log}:\n{tail or '(empty)'}",
        hint="fix what the log says, then `nnet devnet up` again",
    )


# ---- the record and processes ----------------------------------------------------------------
def _records(home: Path) -> list[tuple[Path, list[NodeProc]]]:
    """Each record file of this home (network, single) with its nodes."""
    paths = [home / DEVNET_DIR / NETWORK_FILE, home / NETWORK_FILE]
    return [(p, _read_record(p)) for p in paths if p.exists()]


def _read_record(path: Path) -> list[NodeProc]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        raise MalformedInput(f"{path} is unreadable: {e}", hint="delete it") from None
    try:
        return [
            NodeProc(
                str(d["name"]),
                str(d["url"]),
                int(d["pid"]),
                Path(d["home"]),
                tuple(str(a) for a in d.get("args", [])),
            )
            for d in data
        ]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise MalformedInput(
            f"{path} is not a list of {{name, url, pid, home}}", hint="delete it"
        ) from None


def _write_json(path: Path, data: Any) -> None:
    """Atomically: readers see the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _remove_daemon_json(path: Path, pid: int) -> None:
    """daemon.json, if it names `pid` (a daemon stopped by SIGKILL cannot remove its own)."""
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _alive(pid: int) -> bool:
    try:  # a child of this process (tests start and stop in one) is reaped, not left a zombie
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(node: NodeProc) -> bool:
    """Alive, and (where /proc tells) a daemon of this node's home, not a reused pid."""
    if not _alive(node.pid):
        return False
    try:
        argv = Path(f"/proc/{node.pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc here: trust the pid
    except OSError:
        return True
    return b"daemon" in argv and os.fsencode(str(node.home)) in argv


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _stop_pids(pids: list[int]) -> None:
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10.0
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
