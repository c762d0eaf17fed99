"""A real `python -m nnet daemon` process: lifecycle files, SIGTERM, and kill -9 under load."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from nnet.chain.block import compute_genesis_block, parse_block, process_block
from nnet.chain.genesis import parse_genesis
from nnet.node.storage import load_state
from nnet.store.chaindb import ChainDB
from nnet.tx import parse_tx
from tests.chain.helpers import account
from tests.conftest import RunCli
from tests.node.conftest import devnet_init


def start(home: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "NNET_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnet", "daemon", "--listen", "127.0.0.1:0", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    info = home / "daemon.json"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            data = json.loads(info.read_text())
            if data["pid"] == proc.pid:
                return proc, data["url"]
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("daemon did not write daemon.json")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_daemon_lifecycle_clean_stop(tmp_path: Path, stop: int) -> None:
    home = tmp_path / "home"
    devnet_init(home, [account("life-user")])
    proc, url = start(home, "--block-time", "0.1")
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
    assert httpx.get(f"{url}/status").json()["sync"] == "sequencer"
    proc.send_signal(stop)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert f"listening on {url}" in err.decode()
    assert out == b""  # stdout is for data; the daemon has none
    assert not (home / "daemon.json").exists()
    raw = sqlite3.connect(home / "chain.db")
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()


def test_a_second_daemon_on_the_same_home_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    devnet_init(home, [account("twice-user")])
    proc, url = start(home, "--block-time", "0.1")
    try:
        env = {**os.environ, "NNET_HOME": str(home)}
        second = subprocess.run(
            [sys.executable, "-m", "nnet", "daemon", "--listen", "127.0.0.1:0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2 and f"pid {proc.pid}" in second.stderr
        assert json.loads((home / "daemon.json").read_text())["url"] == url  # still the first's
        assert httpx.get(f"{url}/status").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_daemon_refuses_a_home_without_genesis(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("daemon", "--listen", "127.0.0.1:0", env={"NNET_HOME": str(tmp_path / "x")})
    assert result.exit_code == 2 and "nnet devnet init" in result.stderr
    result = run_cli("daemon", "--listen", "nonsense")
    assert result.exit_code == 2 and "HOST:PORT" in result.stderr


@pytest.mark.slow
def test_kill_9_under_load_loses_no_committed_tx(tmp_path: Path) -> None:
    home = tmp_path / "home"
    users = [account(f"crash-user-{i}") for i in range(4)]
    devnet_init(home, users)
    per_user = 2000  # far more than the ~600 seen before the kill, so the load is cut off
    batches = []
    for k in range(0, per_user, 25):  # pre-signed: the load is only HTTP
        lines = [u.transfer(users[0].address, 1 + k).to_dict() for u in users for _ in range(25)]
        batches.append("\n".join(json.dumps(d) for d in lines).encode() + b"\n")
    proc, url = start(home, "--block-time", "0.05")
    committed: set[str] = set()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=url, timeout=5) as http:
            for body in batches:
                if stop.is_set():
                    return
                try:
                    http.post(
                        "/txs", content=body, headers={"content-type": "application/x-ndjson"}
                    )
                except httpx.TransportError:
                    return

    sender = threading.Thread(target=load)
    sender.start()
    with httpx.Client(base_url=url, timeout=5) as http:
        next_height = 1
        deadline = time.monotonic() + 20
        while len(committed) < 600 and time.monotonic() < deadline:
            blocks = http.get("/blocks", params={"from": next_height, "limit": 100}).json()
            for b in blocks["blocks"]:
                committed.update(parse_tx(t).hash_hex for t in b["txs"])
                next_height = b["header"]["height"] + 1
            for h in list(committed)[:5]:  # what a client sees: committed receipts
                assert http.get(f"/txs/{h}").json()["status"] == "committed"
            time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # mid-load: the sender is still posting
    proc.wait(timeout=10)
    stop.set()
    sender.join(timeout=10)
    assert len(committed) >= 100, "the load did not get going"

    raw = sqlite3.connect(home / "chain.db")
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    db = ChainDB(home / "chain.db")
    stored = db.db.execute("SELECT COUNT(*) FROM txs").fetchone()[0]
    assert len(committed) <= stored < per_user * len(users), "the kill did not interrupt the load"
    height = db.get_head_height()
    assert height is not None and height >= next_height - 1
    for h in committed:
        receipt = db.get_receipt(h)
        assert receipt is not None and receipt["status"] == "committed", h
    # the stored chain replays, block by block, to the stored head's state root
    genesis = parse_genesis(json.loads(db.get_meta("genesis") or "{}"))
    state, head, _ = compute_genesis_block(genesis)
    state.commit()
    for start_h in range(1, height + 1, 200):
        for raw_block in db.get_blocks(start_h, 200):
            block = parse_block(raw_block)
            process_block(state, head, block, sequencer=genesis.sequencer)
            state.commit()
            head = block.header
    assert head.height == height and state.data == load_state(db)
    db.close()

    proc, url = start(home, "--block-time", "0.05")
    try:
        with httpx.Client(base_url=url, timeout=5) as http:
            assert http.get("/status").json()["height"] >= height
            sender_acct = users[1]
            sender_acct.nonce = http.get(f"/accounts/{sender_acct.address}").json()["next_nonce"]
            tx = sender_acct.transfer(users[2].address, 7)
            assert http.post("/txs", json=tx.to_dict()).status_code == 202
            deadline = time.monotonic() + 10
            while http.get(f"/txs/{tx.hash_hex}").json()["status"] != "committed":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert http.get(f"/txs/{tx.hash_hex}").json()["height"] > height
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
