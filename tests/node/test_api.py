"""The HTTP API against a real daemon: the contract's shapes, admission, and refusals."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

import httpx
import pytest

from nnet.client import NodeClient
from nnet.encoding import UNIT
from nnet.errors import InvalidTx, MalformedInput, NotFound
from nnet.tx import Tx
from tests.chain.helpers import account
from tests.node.conftest import FUND_NNET, RunningNode


def ndjson(*txs: Tx) -> bytes:
    return ("\n".join(json.dumps(t.to_dict()) for t in txs) + "\n").encode()


def post_ndjson(running: RunningNode, *txs: Tx) -> httpx.Response:
    return running.http.post(
        "/txs", content=ndjson(*txs), headers={"content-type": "application/x-ndjson"}
    )


def test_listening_socket_is_tcp_so_asyncio_disables_nagle(running: RunningNode) -> None:
    # with proto 0, accepted sockets keep Nagle on and each keep-alive response stalls ~40 ms
    assert running.daemon.sock.proto == socket.IPPROTO_TCP


def test_status_params_openapi(running: RunningNode) -> None:
    status = running.http.get("/status").json()
    assert set(status) >= {
        "chain",
        "height",
        "head_hash",
        "epoch",
        "epoch_blocks",
        "peers",
        "sync",
        "mempool",
        "sequencer",
    }
    assert status["chain"] == "nnet-devnet" and status["sync"] == "sequencer"
    assert status["epoch_blocks"] == 10 and status["peers"] == []
    params = running.http.get("/params").json()
    assert params["epoch_blocks"]["value"] == 10 and params["epoch_blocks"]["min"] == 2
    # other capabilities' endpoints are mounted on the same app
    assert running.http.get("/proposals").json() == {"proposals": [], "next": None}
    assert running.http.get("/blobs").status_code == 200
    spec = running.http.get("/openapi.json").json()
    assert {
        "/status",
        "/txs",
        "/txs/{hash}",
        "/blocks/{height}",
        "/blocks",
        "/accounts/{address}",
        "/params",
    } <= set(spec["paths"])


def test_transfer_is_pending_then_committed(running: RunningNode) -> None:
    alice, bob = running.users[0], running.users[1]
    tx = alice.transfer(bob.address, 5 * UNIT)  # pays the chain's minimum fee
    r = running.http.post("/txs", json=tx.to_dict())
    assert r.status_code == 202
    assert r.json() == {"results": [{"hash": tx.hash_hex, "status": "pending"}]}
    receipt = running.wait_committed(tx.hash_hex)
    assert receipt["from"] == alice.address and receipt["type"] == "transfer"
    assert receipt["tx"] == tx.to_dict() and receipt["index"] == 0
    assert {
        "type": "transfer",
        "from": alice.address,
        "to": bob.address,
        "amount": str(5 * UNIT),
    } in receipt["events"]
    acct = running.http.get(f"/accounts/{alice.address}").json()
    assert acct["balance"] == str(FUND_NNET * UNIT - 5 * UNIT - tx.fee)
    assert acct["nonce"] == 1 and acct["next_nonce"] == 1
    block = running.http.get(f"/blocks/{receipt['height']}").json()
    assert block["txs"][0] == tx.to_dict()
    assert set(block["header"]) == {
        "chain",
        "height",
        "time_ms",
        "prev_hash",
        "tx_root",
        "state_root",
        "proposer",
        "beacon",
        "sig",
    }
    header_schema = running.http.get("/openapi.json").json()["components"]["schemas"]["Header"]
    network_only = {"validators_hash", "last_commit"}  # a network's headers (docs/network.md)
    assert set(header_schema["properties"]) - network_only == set(block["header"])
    assert re.fullmatch(header_schema["properties"]["beacon"]["pattern"], block["header"]["beacon"])
    synced = running.http.get("/blocks", params={"from": 1, "limit": 500}).json()["blocks"]
    assert [b["header"]["height"] for b in synced] == list(range(1, len(synced) + 1))
    assert synced[receipt["height"] - 1]["hash"] == block["hash"]


def test_ndjson_batch_with_pending_nonces_and_balance(running: RunningNode) -> None:
    alice, bob = running.users[0], running.users[1]
    txs = [alice.transfer(bob.address, 100 * UNIT) for _ in range(9)]
    # the tenth would overdraw once the nine pending ones are counted
    txs.append(alice.transfer(bob.address, 200 * UNIT))
    results = post_ndjson(running, *txs).json()["results"]
    assert [r.get("status") for r in results[:9]] == ["pending"] * 9
    assert results[9]["code"] == "insufficient_funds"
    client = NodeClient(running.url)
    for r in results[:9]:
        client.wait(r["hash"], timeout_s=10)
    acct = client.account(alice.address)
    assert acct["nonce"] == 9 and acct["balance"] == str(100 * UNIT - sum(t.fee for t in txs[:9]))
    client.close()


def _snapshot(running: RunningNode) -> dict[str, Any]:
    return {u.address: running.http.get(f"/accounts/{u.address}").json() for u in running.users}


BAD_BODIES = {
    "invalid_utf8": (b'{"v":1,"chain":"\xff\xfe"}', 400, "malformed"),
    "not_json": (b"hello", 400, "malformed"),
    "deep": (b"[" * 100 + b"]" * 100, 400, "malformed"),
    "float_amount": (None, 400, "malformed"),
    "negative_amount": (None, 400, "malformed"),
    "unknown_type": (None, 400, "malformed"),
    "empty": (b"   \n", 400, "malformed"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_malformed_bodies_are_400_and_change_nothing(running: RunningNode, case: str) -> None:
    alice, bob = running.users[0], running.users[1]
    body, status, code = BAD_BODIES[case]
    if body is None:
        d = alice.transfer(bob.address, 1, nonce=0).to_dict()
        if case == "float_amount":
            text = json.dumps(d).replace('"amount": "1"', '"amount": 1.5')
        elif case == "negative_amount":
            text = json.dumps(d).replace('"amount": "1"', '"amount": "-1"')
        else:
            d["type"] = "mint"
            text = json.dumps(d)
        body = text.encode()
    before = _snapshot(running)
    r = running.http.post("/txs", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["error"]
    assert _snapshot(running) == before
    assert len(running.daemon.node.mempool) == 0


def test_refused_transactions_are_4xx_with_reason_and_change_nothing(running: RunningNode) -> None:
    alice, bob, carol = running.users
    committed = alice.transfer(bob.address, 1)
    assert running.http.post("/txs", json=committed.to_dict()).status_code == 202
    running.wait_committed(committed.hash_hex)
    stranger = account("nobody-funded-this")
    half = FUND_NNET * UNIT * 3 // 4
    cases = {
        "duplicate": committed,  # the same tx again
        "bad_nonce": alice.transfer(carol.address, 2, nonce=0),  # replayed nonce, new body
        "bad_nonce ": alice.transfer(carol.address, 2, nonce=7),  # nonce gap
        "wrong_chain": alice.transfer(carol.address, 2, nonce=1, chain="mainnet"),
        "insufficient_funds": stranger.transfer(carol.address, 1, nonce=0),
        # a never-funded key's free, empty transfer: the minimum fee refuses it first
        "fee_too_low": stranger.transfer(carol.address, 0, fee=0, nonce=0),
    }
    before = _snapshot(running)
    for expected, tx in cases.items():
        r = running.http.post("/txs", json=tx.to_dict())
        assert r.status_code == 400, (expected, r.text)
        assert r.json()["code"] == expected.strip(), r.text
        assert r.json()["error"] and r.json()["results"][0]["code"] == expected.strip()
    # bad signature: a signature made over another body
    d = alice.transfer(carol.address, 2, nonce=1).to_dict()
    d["body"]["amount"] = "3"
    r = running.http.post("/txs", json=d)
    assert (r.status_code, r.json()["code"]) == (400, "bad_signature")
    # double spend: two spends of 3/4 of the balance, in one batch; only the first gets in
    spend1 = bob.transfer(carol.address, half)
    spend2 = bob.transfer(alice.address, half)
    results = post_ndjson(running, spend1, spend2).json()["results"]
    assert results[0]["status"] == "pending" and results[1]["code"] == "insufficient_funds"
    running.wait_committed(spend1.hash_hex)
    after = _snapshot(running)
    assert after[alice.address] == before[alice.address]
    assert int(after[bob.address]["balance"]) == (
        int(before[bob.address]["balance"]) - half - spend1.fee
    )


def test_oversized_body_is_413(running: RunningNode) -> None:
    running.daemon.node.config.max_body_bytes = 10_000
    r = running.http.post("/txs", content=b"x" * 20_000)
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    # an oversized single transaction line inside an acceptable body
    alice = running.users[0]
    d = alice.transfer(alice.address, 1).to_dict()
    d["chain"] = "x" * 9_000
    lines = json.dumps(d) + "\n" + json.dumps(d) + "\n"
    running.daemon.node.config.max_body_bytes = 1_000_000
    big = json.dumps({**d, "body": {"to": alice.address, "amount": "1", "pad": "y" * 70_000}})
    r = running.http.post(
        "/txs",
        content=(lines + big + "\n").encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 202
    assert [x["code"] for x in r.json()["results"]] == ["malformed", "malformed", "too_large"]


def test_reads_refuse_bad_input_with_4xx(running: RunningNode) -> None:
    http = running.http
    cases = {
        "/txs/0x1234": (400, "malformed"),
        "/txs/0x" + "ab" * 32: (404, "not_found"),
        "/blocks/99999": (404, "not_found"),
        "/blocks/abc": (400, "malformed"),
        "/blocks?from=-1": (400, "malformed"),
        "/accounts/0xnothex": (400, "malformed"),
        "/no/such/route": (404, "not_found"),
    }
    for path, (status, code) in cases.items():
        r = http.get(path)
        assert (r.status_code, r.json()["code"]) == (status, code), path
    r = http.delete("/status")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")


def test_node_client_speaks_the_contract(running: RunningNode) -> None:
    alice, bob = running.users[0], running.users[1]
    with NodeClient(running.url) as client:
        assert client.status()["sequencer"] == running.daemon.node.sequencer
        tx = alice.transfer(bob.address, 1)
        [result] = client.submit([tx.to_dict()])
        assert result == {"hash": tx.hash_hex, "status": "pending"}
        assert client.wait(tx.hash_hex, timeout_s=10)["status"] == "committed"
        [again] = client.submit([tx.to_dict()])
        assert again["code"] == "duplicate"
        with pytest.raises(NotFound):
            client.receipt("0x" + "00" * 32)
        with pytest.raises(MalformedInput):
            client.account("0x12")
        assert client.next_nonce(alice.address) == 1
        assert client.block(0)["header"]["height"] == 0
        stranger = account("client-stranger")
        with pytest.raises(InvalidTx) as info:  # a single refused JSON tx raises
            client._request("POST", "/txs", json=stranger.transfer(bob.address, 1).to_dict())
        assert info.value.code == "insufficient_funds"
