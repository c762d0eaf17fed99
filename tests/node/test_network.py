"""A network of four validator processes, end to end: what a user and an attacker see.

- It finalizes, and says so: /status (validators with power, last_commit, peers), /validators
  matching the headers' validators_hash, /metrics, `nnet block verify` of a recent block.
- A transaction sent to any validator is gossiped and committed on every node at one height.
- A new node syncs from a peer and checks every certificate: from a peer that serves real blocks
  with forged certificates it applies nothing; from an honest peer it catches up.
- Garbage and forgeries on the gossip port are refused and change nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nnet import bls
from nnet.chain.commit import vote_message
from nnet.client import NodeClient
from nnet.encoding import UNIT, to_json_line
from nnet.services.finality import fetch_finality
from tests.chain.helpers import account
from tests.node.network_harness import Network, check_safety, start_network, wait_for_height
from tests.node.stub_server import serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with start_network(tmp_path_factory.mktemp("network")) as network:
        yield network


def test_a_network_finalizes_and_reports_itself(net: Network) -> None:
    wait_for_height(net, net.names, 3)
    status = net.status("node-1")
    assert status["sync"] == "validator" and sorted(status["peers"]) == [
        "node-0",
        "node-2",
        "node-3",
    ]
    powers = {v["address"]: v["power"] for v in status["validators"]}
    assert powers == {a: 1_000_000 for a in net.addresses.values()}
    commit = status["last_commit"]
    assert (
        commit["height"] == status["height"]
        and 3 * commit["signed_power"] > 2 * commit["total_power"]
    )
    assert status["consensus"]["validator"] is True

    block = net.get("node-2", "/blocks/2")
    vset = net.get("node-2", "/validators", height=2)
    assert vset["hash"] == block["header"]["validators_hash"] and vset["total_power"] == 4_000_000
    assert block["header"]["last_commit"]["height"] == 1 and block["header"]["sig"] == ""
    metrics = net.http.get(f"{net.url('node-3')}/metrics").text
    assert "nnet_consensus_height" in metrics and 'nnet_gossip_sent_total{peer="node-0"}' in metrics

    report = fetch_finality(NodeClient(net.url("node-0")), 2).verify()
    assert report.ok and report.height == 2 and len(report.signers) >= 3


def test_a_transaction_sent_to_any_validator_is_committed_on_every_node(net: Network) -> None:
    alice = account("network-alice")
    node0 = net.addresses["node-0"]
    # node-0's validator pays alice, through node-3; alice pays back through node-1
    fund = _signed_by_node(net, "node-0", alice.address, 5 * UNIT)
    tx_hash = _post(net, "node-3", fund)
    heights = {n: _committed_height(net, n, tx_hash) for n in net.names}
    assert len(set(heights.values())) == 1, heights
    back = alice.transfer(node0, UNIT)
    back_hash = _post(net, "node-1", back.to_dict())
    assert len({_committed_height(net, n, back_hash) for n in net.names}) == 1
    for name in net.names:
        assert int(net.get(name, f"/accounts/{alice.address}")["balance"]) < 4 * UNIT
    check_safety(net)


def test_a_new_node_syncs_only_what_certificates_prove(net: Network, tmp_path: Path) -> None:
    top = wait_for_height(net, net.names, 4)["node-0"]
    honest = net.url("node-0")
    with serve(_forging_proxy(honest)) as evil:
        observer = _start_observer(net, tmp_path / "fooled", {"evil": evil})
        try:
            time.sleep(3.0)
            assert _height(observer[1]) == 0
        finally:
            _stop(observer[0])
        log = (tmp_path / "fooled" / "daemon.log").read_text()
        assert "not proven final" in log
    observer = _start_observer(net, tmp_path / "new", {"node-0": honest})
    try:
        deadline = time.monotonic() + 20
        while (_height(observer[1]) or 0) < top:
            assert time.monotonic() < deadline, "the new node did not catch up"
            time.sleep(0.2)
        mine = httpx.get(f"{observer[1]}/blocks/{top}").json()
        assert mine["hash"] == net.get("node-1", f"/blocks/{top}")["hash"]
        assert httpx.get(f"{observer[1]}/status").json()["consensus"]["validator"] is False
    finally:
        _stop(observer[0])


def test_garbage_and_forgeries_on_the_gossip_port_change_nothing(net: Network) -> None:
    target = f"{net.url('node-2')}/p2p/consensus"
    status = net.status("node-2")
    h, chain = status["consensus"]["height"], status["chain"]
    stranger = 7  # a BLS key nobody registered
    someone = net.addresses["node-1"]
    forged_vote = {
        "kind": "vote",
        "type": "precommit",
        "height": h,
        "round": 0,
        "block_id": "0x" + "ab" * 32,
        "validator": someone,
        "sig": "0x"
        + bls.sign(stranger, vote_message(chain, "precommit", h, 0, b"\xab" * 32)).hex(),
    }
    bodies: list[Any] = [
        b"not json",
        b"{}",
        b"[1, 2, 3]",
        json.dumps([{"kind": "vote"}]).encode(),
        json.dumps([{**forged_vote, "validator": account("nobody").address}]).encode(),
        json.dumps([forged_vote]).encode(),
        json.dumps([{**forged_vote, "sig": "0x" + "00" * 96}]).encode(),
        json.dumps([{**forged_vote, "height": 2**70}]).encode(),
        json.dumps(
            [
                {
                    "kind": "proposal",
                    "height": h,
                    "round": 0,
                    "valid_round": -1,
                    "proposer": someone,
                    "block": {"header": {}},
                    "sig": "0x" + "11" * 96,
                }
            ]
        ).encode(),
        json.dumps([forged_vote] * 1001).encode(),
    ]
    for body in bodies:
        resp = net.http.post(target, content=body, headers={"x-nnet-peer": "mallory"})
        assert resp.status_code < 500, (body[:80], resp.status_code, resp.text)
    before = net.height("node-2") or 0
    wait_for_height(net, net.names, before + 2)
    check_safety(net)


# ---- helpers -----------------------------------------------------------------------------------
def _signed_by_node(net: Network, name: str, to: str, amount: int) -> dict[str, Any]:
    """A transfer signed by the validator key of node `name` (read from its home)."""
    from nnet.config import node_keys_home
    from nnet.keys import KeyStore
    from nnet.tx import build_tx

    home = net.nodes[name].home
    password = (home / "validator.password").read_text().strip()
    secret = KeyStore(node_keys_home(home)).secret("validator", password)
    sender = net.addresses[name]
    nonce = int(net.get(name, f"/accounts/{sender}")["next_nonce"])
    tx = build_tx(
        net.status(name)["chain"],
        "transfer",
        sender,
        nonce,
        10**16,
        {"to": to, "amount": str(amount)},
    )
    return tx.signed(secret).to_dict()


def _post(net: Network, name: str, tx: dict[str, Any]) -> str:
    resp = net.http.post(f"{net.url(name)}/txs", content=to_json_line(tx))
    assert resp.status_code == 202, resp.text
    return str(resp.json()["results"][0]["hash"])


def _committed_height(net: Network, name: str, tx_hash: str) -> int:
    deadline = time.monotonic() + 20
    while True:
        r = net.http.get(f"{net.url(name)}/txs/{tx_hash}")
        if r.status_code == 200 and r.json()["status"] == "committed":
            return int(r.json()["height"])
        assert time.monotonic() < deadline, f"{tx_hash} not committed on {name}: {r.text}"
        time.sleep(0.1)


def _forging_proxy(upstream: str) -> Starlette:
    """A peer that serves the real chain, except that every certificate has one signer bit
    flipped on: blocks whose finality it cannot prove."""

    def forge(cert: dict[str, Any] | None) -> dict[str, Any] | None:
        if cert is None:
            return None
        bits = bytearray(bytes.fromhex(cert["signers"][2:]))
        bits[0] ^= 0x0F
        return {**cert, "signers": "0x" + bits.hex()}

    async def status(request: Request) -> Response:
        return JSONResponse(httpx.get(f"{upstream}/status").json())

    async def blocks(request: Request) -> Response:
        page = httpx.get(f"{upstream}/blocks", params=dict(request.query_params)).json()
        for b in page["blocks"]:
            b["header"]["last_commit"] = forge(b["header"]["last_commit"])
            b.pop("hash", None)
        return JSONResponse(page)

    async def commit(request: Request) -> Response:
        got = httpx.get(f"{upstream}/p2p/commit/{request.path_params['h']}")
        return JSONResponse(forge(got.json()), status_code=got.status_code)

    return Starlette(
        routes=[
            Route("/status", status),
            Route("/blocks", blocks),
            Route("/p2p/commit/{h}", commit),
        ]
    )


def _start_observer(
    net: Network, home: Path, peers: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    """A node with the network's genesis and no validator key, following `peers`."""
    home.mkdir(parents=True)
    (home / "genesis.json").write_text((net.home / "genesis.json").read_text())
    argv = [sys.executable, "-m", "nnet", "daemon", "--home", str(home), "--listen", "127.0.0.1:0"]
    argv += ["--name", home.name, "--block-time", "0.2"]
    for name, url in peers.items():
        argv += ["--peer", f"{name}={url}"]
    log = open(home / "daemon.log", "wb")  # noqa: SIM115 - the process writes it until stopped
    proc = subprocess.Popen(
        argv, stdout=log, stderr=log, env={**os.environ, "NNET_HOME": str(home)}
    )
    deadline = time.monotonic() + 20
    while not (home / "daemon.json").exists():
        assert proc.poll() is None, (home / "daemon.log").read_text()
        assert time.monotonic() < deadline, "the observer did not start"
        time.sleep(0.05)
    return proc, json.loads((home / "daemon.json").read_text())["url"]


def _height(url: str) -> int | None:
    try:
        return int(httpx.get(f"{url}/status", timeout=3).json()["height"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_an_idle_network_waits_for_work_and_a_transaction_wakes_it(tmp_path: Path) -> None:
    """With nothing to order, no empty block before the interval (5 s here); a transaction sent
    to any validator starts the next height at once, on every node."""
    from nnet.services import devnet_proc
    from nnet.services.devnet import DevnetOptions, init_devnet

    home = tmp_path / "home"
    alice = account("idle-alice")
    init_devnet(home, DevnetOptions(validators=4, fund={alice.address: 10 * UNIT}))
    nodes = devnet_proc.up(home, block_time=0.1, extra_args=["--empty-block-interval", "5"])
    try:
        urls = [n.url for n in nodes]
        deadline = time.monotonic() + 20
        while (_height(urls[0]) or 0) < 1:  # block 1 comes after the first interval
            assert time.monotonic() < deadline
            time.sleep(0.1)
        before = _height(urls[0]) or 0
        time.sleep(2.0)
        assert (_height(urls[0]) or 0) <= before + 1  # idle: at most the one under way
        tx = alice.transfer(alice.address, 1)
        sent = time.monotonic()
        r = httpx.post(f"{urls[2]}/txs", content=to_json_line(tx.to_dict()))
        assert r.status_code == 202, r.text
        for url in urls:
            while httpx.get(f"{url}/txs/{tx.hash_hex}").json()["status"] != "committed":
                assert time.monotonic() - sent < 4.0, "the transaction did not wake the network"
                time.sleep(0.05)
    finally:
        devnet_proc.down(home)


def test_the_event_feed_of_a_validator_wakes_on_a_finalized_block(net: Network) -> None:
    """A long-poll on GET /events returns when the next block is final, not at its timeout
    (agents on a network node follow the chain through it)."""
    head = net.height("node-1") or 0
    sent = time.monotonic()
    page = net.http.get(
        f"{net.url('node-1')}/events", params={"after": str(head), "wait": 20}, timeout=30
    ).json()
    assert time.monotonic() - sent < 10, "the wait ran to its timeout: no block woke it"
    assert page["next"] is not None
