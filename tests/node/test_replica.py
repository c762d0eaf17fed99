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
                # the next nonce a client is told counts what the sequencer holds pending
                next_nonce = http.get(f"/accounts/{alice.address}").json()["next_nonce"]
                assert next_nonce >= tx.nonce + 1
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


def test_replica_keeps_evidence_of_two_signed_blocks_at_one_height(tmp_path: Path) -> None:
    import asyncio

    from nnet.chain.block import parse_block
    from nnet.node.app import make_app
    from nnet.node.core import Node
    from nnet.node.sync import Replica
    from nnet.store.chaindb import ChainDB
    from tests.chain.helpers import make_devnet
    from tests.node.test_core import body

    net = make_devnet(2, tag="equivocation")
    alice, bob = net.users
    honest = Node(ChainDB(tmp_path / "a.db"), net.genesis, signer=net.sequencer.secret)
    forked = Node(ChainDB(tmp_path / "b.db"), net.genesis, signer=net.sequencer.secret)
    honest.submit_body(body(alice.transfer(bob.address, 1, nonce=0)), "application/json")
    honest.produce_block(10)
    forked.submit_body(body(alice.transfer(bob.address, 2, nonce=0)), "application/json")
    forked.produce_block(10)  # the same sequencer signs a second block 1
    forked.submit_body(body(bob.transfer(alice.address, 3, nonce=0)), "application/json")
    forked.produce_block(20)

    follower = Node(ChainDB(tmp_path / "r.db"), net.genesis)
    follower.apply_block(parse_block(honest.block(1)))
    state_before = dict(follower.state.data)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app(forked)))
    replica = Replica(follower, ["http://forked-sequencer"], client=client)

    async def run() -> None:
        await asyncio.wait_for(replica.follow(0.01), timeout=10)  # returns when it halts
        await replica.close()

    asyncio.run(run())
    assert replica.halted is not None and "prev_hash" in replica.halted
    assert follower.head.height == 1 and follower.state.data == state_before
    [evidence] = follower.db.get_evidence()
    assert evidence["height"] == 1
    ours, theirs = evidence["headers"]
    assert ours["state_root"] != theirs["state_root"]
    assert ours["proposer"] == theirs["proposer"] == net.sequencer.address
    status = follower.status()
    assert status["evidence"] == 1 and status["sync_error"] == replica.halted
