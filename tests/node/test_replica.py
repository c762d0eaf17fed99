"""A replica daemon (--peer) follows the sequencer over HTTP, forwards txs, matches every root."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx

from nnet.node.server import DaemonOptions
from tests.node.conftest import RunningNode, start_daemon


def test_replica_follows_forwards_and_agrees(running: RunningNode, tmp_path: Path) -> None:
    home = tmp_path / "replica"
    home.mkdir()
    shutil.copy(running.home / "genesis.json", home / "genesis.json")  # no sequencer key
    replica, thread = start_daemon(
        DaemonOptions(home=home, port=0, block_time_s=0.05, peers=[running.url])
    )
    try:
        with httpx.Client(base_url=replica.url, timeout=10) as http:
            assert http.get("/status").json()["sync"] == "replica"
            alice, bob = running.users[0], running.users[1]
            txs = [alice.transfer(bob.address, 1000 + i) for i in range(5)]
            for tx in txs:  # submitted to the replica, forwarded to the sequencer
                r = http.post("/txs", json=tx.to_dict())
                assert r.status_code == 202, r.text
            target = running.wait_committed(txs[-1].hash_hex)["height"]
            deadline = time.monotonic() + 10
            while replica.node.head.height < target:
                assert time.monotonic() < deadline, "replica did not catch up"
                time.sleep(0.02)
            assert http.get(f"/txs/{txs[-1].hash_hex}").json()["status"] == "committed"
            for h in range(0, target + 1):
                mine = http.get(f"/blocks/{h}").json()
                theirs = running.http.get(f"/blocks/{h}").json()
                assert mine == theirs
            assert (
                http.get(f"/accounts/{bob.address}").json()["balance"]
                == running.http.get(f"/accounts/{bob.address}").json()["balance"]
            )
            # a refusal comes back from the sequencer unchanged
            r = http.post("/txs", json=txs[0].to_dict())
            assert r.status_code == 400 and r.json()["code"] == "duplicate"
    finally:
        replica.stop()
        thread.join(timeout=10)
