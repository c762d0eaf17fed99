"""nnet.services.devnet_proc: `nnet devnet up` / `down` / restarting a node, on real daemons."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nnet.errors import NotFound, UsageError
from nnet.services import devnet_proc
from nnet.services.devnet import DevnetOptions, init_devnet
from nnet.services.devnet_proc import down, restart_node, running_nodes, up
from tests.conftest import invoke_main


def _gone(pid: int) -> bool:
    """Whether `pid` has exited (waiting up to 5 s; a child of this process is reaped)."""
    deadline = time.monotonic() + 5
    while True:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A devnet home; whatever a test leaves running there is stopped afterwards."""
    path = tmp_path / "home"
    try:
        yield path
    finally:
        down(path, timeout_s=5)


@pytest.mark.slow
def test_single_home_up_health_restart_down(home: Path) -> None:
    info = init_devnet(home)  # 100-block epochs: /health calls a head stale only after 10 s
    [node] = up(home, block_time=0.1)
    assert (node.name, node.home) == ("node-0", home.absolute())
    assert node.url.startswith("http://127.0.0.1:") and not node.url.endswith(":0")
    assert httpx.get(f"{node.url}/health", timeout=5).status_code == 200
    status = httpx.get(f"{node.url}/status", timeout=5).json()
    assert status["sequencer"] == info.sequencer
    # the daemon's own daemon.json makes it the node of every client command run from HOME
    assert json.loads((home / "daemon.json").read_text()) == {"url": node.url, "pid": node.pid}
    record = json.loads((home / "network.json").read_text())
    assert [(r["name"], r["url"], r["pid"]) for r in record] == [("node-0", node.url, node.pid)]
    assert "--block-time" in record[0]["args"]
    assert running_nodes(home) == [node]

    with pytest.raises(UsageError, match="already up") as twice:
        up(home)
    assert "nnet devnet down" in (twice.value.hint or "")
    assert running_nodes(home) == [node]  # the refusal touched nothing

    with pytest.raises(UsageError, match="is running"):
        restart_node(home, "node-0")
    with pytest.raises(NotFound):
        restart_node(home, "node-9")
    os.kill(node.pid, signal.SIGKILL)
    assert _gone(node.pid) and running_nodes(home) == []
    again = restart_node(home, "node-0")
    assert again.url == node.url and again.pid != node.pid  # same port, new process
    assert httpx.get(f"{again.url}/health", timeout=5).status_code == 200
    assert json.loads((home / "network.json").read_text())[0]["pid"] == again.pid

    stops = down(home)
    assert [s.to_dict() for s in stops] == [{"name": "node-0", "pid": again.pid, "stopped": "term"}]
    assert _gone(again.pid)
    assert not (home / "daemon.json").exists() and not (home / "network.json").exists()
    assert down(home) == []  # idempotent: nothing is running
    assert (home / "chain.db").exists()  # down stops the chain, it does not delete it


def test_up_without_a_devnet_is_a_usage_error(home: Path) -> None:
    with pytest.raises(UsageError, match="no devnet") as refused:
        up(home)
    assert "nnet devnet init" in (refused.value.hint or "")
    assert not home.exists() or not (home / "network.json").exists()


def test_a_node_that_cannot_start_is_named_with_its_log_and_nothing_is_left(home: Path) -> None:
    init_devnet(home)
    (home / "genesis.json").write_text('{"chain": 5}')  # the daemon refuses this genesis
    (home / "daemon.log").write_text("x" * 50_000 + "\n")  # an old, long log
    with pytest.raises(UsageError, match="node-0 did not start") as failed:
        up(home)
    message = failed.value.message
    assert "genesis" in message and str(home / "daemon.log") in message
    assert len(message) < devnet_proc.LOG_TAIL_CHARS + 500  # only the log's tail
    assert not (home / "network.json").exists() and running_nodes(home) == []


def test_a_node_that_does_not_answer_in_time_is_stopped(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_devnet(home)
    monkeypatch.setattr(devnet_proc, "START_TIMEOUT_S", 0.0)
    spawned: list[int] = []
    spawn = devnet_proc._spawn

    def recording(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = spawn(*args, **kwargs)  # type: ignore[arg-type]
        spawned.append(proc.pid)
        return proc

    monkeypatch.setattr(devnet_proc, "_spawn", recording)
    with pytest.raises(UsageError, match="did not answer within 0 s"):
        up(home)
    assert len(spawned) == 1 and _gone(spawned[0])
    assert not (home / "network.json").exists() and not (home / "daemon.json").exists()


def _stand_in(home: Path, *, ignore_term: bool, marked: bool = True) -> subprocess.Popen[str]:
    """A live process that (when `marked`) looks like a daemon of `home` on its command line;
    it says "ready" once its SIGTERM disposition is set."""
    code = (
        "import signal, sys, time\n"
        + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "")
        + "print('ready', flush=True)\ntime.sleep(60)\n"
    )
    tail = ["daemon", "--home", str(home)] if marked else []
    proc = subprocess.Popen([sys.executable, "-c", code, *tail], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def _record(home: Path, *procs: subprocess.Popen[str]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    entries = [
        {"name": f"node-{i}", "url": "http://127.0.0.1:1", "pid": p.pid, "home": str(home)}
        for i, p in enumerate(procs)
    ]
    (home / "network.json").write_text(json.dumps(entries))
    (home / "daemon.json").write_text(
        json.dumps({"url": "http://127.0.0.1:1", "pid": procs[0].pid})
    )


def test_down_kills_what_ignores_sigterm_after_the_timeout(home: Path) -> None:
    stubborn = _stand_in(home.absolute(), ignore_term=True)
    polite = _stand_in(home.absolute(), ignore_term=False)
    try:
        _record(home, stubborn, polite)
        stops = down(home, timeout_s=0.3)
        assert [(s.name, s.stopped) for s in stops] == [("node-0", "kill"), ("node-1", "term")]
        assert _gone(stubborn.pid) and _gone(polite.pid)
        assert not (home / "network.json").exists() and not (home / "daemon.json").exists()
    finally:
        for proc in (stubborn, polite):
            proc.kill()
            proc.wait()


def test_down_never_signals_a_recorded_pid_that_is_not_a_devnet_daemon(home: Path) -> None:
    # after a reboot the recorded pid may belong to anything: it must be left alone
    stranger = _stand_in(home.absolute(), ignore_term=False, marked=False)
    try:
        _record(home, stranger)
        assert running_nodes(home) == []
        assert [s.stopped for s in down(home, timeout_s=0.3)] == ["gone"]
        assert stranger.poll() is None  # still running, never signalled
        assert not (home / "network.json").exists()
    finally:
        stranger.kill()
        stranger.wait()


def _daemon_has_network_mode() -> bool:
    return "--name" in invoke_main(["daemon", "--help"]).stdout


@pytest.mark.slow
def test_a_network_of_four_comes_up_and_goes_down(home: Path) -> None:
    if not _daemon_has_network_mode():
        pytest.skip("`nnet daemon` has no --name yet: the network mode of issue 13 is not wired")
    info = init_devnet(home, DevnetOptions(validators=4))
    nodes = up(home, block_time=0.2)
    assert [n.name for n in nodes] == ["node-0", "node-1", "node-2", "node-3"]
    assert [n.home for n in nodes] == [p.absolute() for p in info.nodes]
    assert len({n.url for n in nodes}) == 4
    for node in nodes:
        assert httpx.get(f"{node.url}/health", timeout=5).status_code in (200, 503)
    record = json.loads((home / "devnet" / "network.json").read_text())
    assert [(r["name"], r["url"], r["pid"]) for r in record] == [
        (n.name, n.url, n.pid) for n in nodes
    ]
    assert json.loads((home / "daemon.json").read_text()) == {
        "url": nodes[0].url,
        "pid": nodes[0].pid,
    }
    with pytest.raises(UsageError, match="already up"):
        up(home)
    # the fault tests' kill -9 and restart: same port and peers, a new pid everywhere it is named
    os.kill(nodes[0].pid, signal.SIGKILL)
    assert _gone(nodes[0].pid)
    back = restart_node(home, "node-0")
    assert back.url == nodes[0].url and back.pid != nodes[0].pid
    assert httpx.get(f"{back.url}/health", timeout=5).status_code in (200, 503)
    assert json.loads((home / "daemon.json").read_text()) == {"url": back.url, "pid": back.pid}
    assert running_nodes(home) == [back, *nodes[1:]]
    stops = down(home)
    assert sorted(s.name for s in stops) == [n.name for n in nodes]
    assert all(s.stopped in ("term", "kill") for s in stops)
    assert all(_gone(n.pid) for n in [back, *nodes[1:]])
    assert not (home / "daemon.json").exists()
    assert not (home / "devnet" / "network.json").exists()
