"""Fetching a block's blobs before voting: what a transaction references, and `ensure_blobs`
against a real daemon and against peers that lie, hang, send too much or are down."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from nnet.cid import compute_cid
from nnet.client import NodeClient
from nnet.errors import MalformedInput
from nnet.node.blob_fetch import ensure_blobs, referenced_blobs, referenced_by_txs
from nnet.store.blobs import BlobStore
from nnet.tx import Tx, build_tx
from tests.chain.helpers import account
from tests.node.conftest import RunningNode
from tests.node.stub_server import closed_port_url, serve

SENDER = account("blob-fetch-sender").address
MiB = 1 << 20


def _cid(label: str) -> str:
    return compute_cid(label.encode())


# ---- what a transaction references ------------------------------------------------------------
def test_job_submit_references_its_spec_and_dataset() -> None:
    tx = _job_submit(_cid("spec"))
    assert referenced_blobs(tx) == [_cid("data"), _cid("spec")]  # by field name: fixed order


def test_proof_open_references_each_opening_once() -> None:
    openings = [
        {"index": 3, "cid": _cid("c3")},
        {"index": 1, "cid": _cid("c1")},
        {"index": 2, "cid": _cid("c3")},  # the same checkpoint bytes at two indexes
    ]
    tx = build_tx("nnet-devnet", "proof.open", SENDER, 0, 1, {"job": 1, "openings": openings})
    assert referenced_blobs(tx) == [_cid("c3"), _cid("c1")]


def test_proof_submit_references_its_model_only_when_it_is_a_cid() -> None:
    proof = {"trace": _cid("trace"), "dataset": _cid("data"), "model": _cid("model")}
    tx = build_tx("nnet-devnet", "proof.submit", SENDER, 0, 1, {"job": 1, "proof": proof})
    # the trace comes with the openings, later; the dataset is the job's
    assert referenced_blobs(tx) == [_cid("model")]
    proof["model"] = "not-a-cid"
    tx = build_tx("nnet-devnet", "proof.submit", SENDER, 0, 1, {"job": 1, "proof": proof})
    assert referenced_blobs(tx) == []


def test_a_transfer_references_nothing_and_a_block_lists_each_blob_once() -> None:
    transfer = build_tx("nnet-devnet", "transfer", SENDER, 0, 1, {"to": SENDER, "amount": "1"})
    assert referenced_blobs(transfer) == []
    a = build_tx(
        "nnet-devnet",
        "proof.open",
        SENDER,
        0,
        1,
        {"job": 1, "openings": [{"index": 0, "cid": _cid("x")}]},
    )
    b = build_tx(
        "nnet-devnet",
        "proof.open",
        SENDER,
        1,
        1,
        {"job": 2, "openings": [{"index": 0, "cid": _cid("y")}, {"index": 1, "cid": _cid("x")}]},
    )
    assert referenced_by_txs([a, transfer, b]) == [_cid("x"), _cid("y")]


# ---- fetching ----------------------------------------------------------------------------------
def _fetch(
    store: BlobStore,
    cids: list[str],
    peers: list[str],
    *,
    max_bytes: int = 4 * MiB,
    timeout_s: float = 10.0,
    concurrency: int = 4,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[str]:
    async def go() -> list[str]:
        async with httpx.AsyncClient(timeout=5.0, transport=transport) as client:
            return await ensure_blobs(
                store,
                cids,
                peers,
                client,
                max_bytes=max_bytes,
                timeout_s=timeout_s,
                concurrency=concurrency,
            )

    return asyncio.run(go())


def _upload(running: RunningNode, *blobs: bytes) -> list[str]:
    with NodeClient(running.url) as client:
        return [str(client.put_blob(b, signer=running.users[0].secret)["cid"]) for b in blobs]


def _content(store: BlobStore, cid: str) -> bytes:
    return b"".join(store.read(cid))


def _leftovers(store: BlobStore) -> list[Path]:
    return list(store.root.glob(".incoming-*"))


def test_fetches_what_is_missing_from_a_real_daemon(running: RunningNode, tmp_path: Path) -> None:
    blobs = [b"job spec", b"dataset " * 100_000]  # one of 800 kB: several chunks
    cids = _upload(running, *blobs)
    store = BlobStore(tmp_path / "mine")
    assert _fetch(store, cids, [running.url]) == []
    assert [_content(store, c) for c in cids] == blobs
    assert not _leftovers(store)


def test_blobs_already_held_cost_no_request(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "mine")
    held = store.put([b"already here"]).cid
    asked: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(500)

    transport = httpx.MockTransport(refuse)
    assert _fetch(store, [held, held], ["http://127.0.0.1:9"], transport=transport) == []
    assert asked == []


def test_a_string_that_is_not_a_cid_is_refused_before_any_request(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "mine")
    asked: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(404)

    with pytest.raises(MalformedInput):
        _fetch(
            store,
            [_cid("ok"), "bafy-nonsense"],
            ["http://x"],
            transport=httpx.MockTransport(record),
        )
    assert asked == []


def _liar_app(served: dict[str, int]) -> Starlette:
    """A peer that answers every blob with garbage (counting what it was asked)."""

    async def lie(request: Request) -> Response:
        cid = request.path_params["cid"]
        served[cid] = served.get(cid, 0) + 1
        return Response(b"not the bytes you are looking for", media_type="application/octet-stream")

    return Starlette(routes=[Route("/blobs/{cid}", lie)])


def test_a_lying_peer_leaves_nothing_and_the_next_peer_is_asked(
    running: RunningNode, tmp_path: Path
) -> None:
    (cid,) = _upload(running, b"the true bytes")
    store = BlobStore(tmp_path / "mine")
    served: dict[str, int] = {}
    with serve(_liar_app(served)) as liar:
        assert _fetch(store, [cid], [liar]) == [cid]  # only the liar: missing
        assert store.list() == [] and not _leftovers(store)  # not even the garbage's own CID
        assert _fetch(store, [cid], [liar, running.url]) == []
    assert served == {cid: 2}
    assert _content(store, cid) == b"the true bytes"
    assert [b.cid for b in store.list()] == [cid] and not _leftovers(store)


def test_a_blob_over_max_bytes_is_refused_however_it_is_sent(
    running: RunningNode, tmp_path: Path
) -> None:
    big = hashlib.sha256(b"seed").digest() * (3 * MiB // 32)  # 3 MiB
    (cid,) = _upload(running, big)
    store = BlobStore(tmp_path / "mine")
    # the daemon streams without a length; the stub declares it up front
    assert _fetch(store, [cid], [running.url], max_bytes=2 * MiB) == [cid]

    async def declared(request: Request) -> Response:
        return Response(big)

    with serve(Starlette(routes=[Route("/blobs/{cid}", declared)])) as stub:
        assert _fetch(store, [cid], [stub], max_bytes=2 * MiB) == [cid]
        assert store.list() == [] and not _leftovers(store)
        assert store.reserved_bytes == 0
        # the limit is the only thing in the way: the same peers serve it under a larger one
        assert _fetch(store, [cid], [stub], max_bytes=4 * MiB) == []
    assert _content(store, cid) == big


def test_peers_with_unusable_urls_are_skipped(running: RunningNode, tmp_path: Path) -> None:
    (cid,) = _upload(running, b"reachable")
    store = BlobStore(tmp_path / "mine")
    peers = ["not a url", "http://[::1", "ftp://127.0.0.1:1", running.url]
    assert _fetch(store, [cid], peers) == []
    assert _content(store, cid) == b"reachable"


def test_all_peers_down_returns_what_is_missing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "mine")
    cids = [_cid("a"), _cid("b")]
    assert _fetch(store, cids, [closed_port_url(), closed_port_url()]) == cids
    assert _fetch(store, cids, []) == cids
    assert store.list() == [] and not _leftovers(store)


def test_a_hanging_peer_is_given_up_at_the_deadline(tmp_path: Path) -> None:
    async def hang(request: Request) -> Response:
        await asyncio.sleep(60)
        return Response(b"")

    store = BlobStore(tmp_path / "mine")
    with serve(Starlette(routes=[Route("/blobs/{cid}", hang)])) as stub:
        start = time.monotonic()
        assert _fetch(store, [_cid("slow")], [stub], timeout_s=0.5) == [_cid("slow")]
        assert time.monotonic() - start < 30  # the deadline, not the 60 s handler, ended it
    assert not _leftovers(store)


def test_fetches_run_concurrently_but_no_more_than_the_bound(tmp_path: Path) -> None:
    blobs = {compute_cid(f"blob {i}".encode()): f"blob {i}".encode() for i in range(8)}
    in_flight = 0
    most = 0

    async def slow_honest(request: Request) -> Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.1)
        finally:
            in_flight -= 1

        async def body() -> AsyncIterator[bytes]:
            yield blobs[request.path_params["cid"]]

        return StreamingResponse(body())

    store = BlobStore(tmp_path / "mine")
    with serve(Starlette(routes=[Route("/blobs/{cid}", slow_honest)])) as stub:
        assert _fetch(store, list(blobs), [stub], concurrency=3) == []
    assert 1 <= most <= 3
    assert {b.cid for b in store.list()} == set(blobs)


# ---- blobs a referenced blob names --------------------------------------------------------------
def _job_submit(spec_cid: str) -> Tx:
    body = {
        "spec_cid": spec_cid,
        "spec_hash": "0x" + "11" * 32,
        "dataset_cid": _cid("data"),
        "fee": "1",
        "verifiers": 1,
        "deadline_epochs": 2,
        "checkpoints": 3,
        "mode": "exact",
        "work": 10,
    }
    return build_tx("nnet-devnet", "job.submit", SENDER, 0, 1, body)


def test_a_stored_spec_names_its_labels_file(tmp_path: Path) -> None:
    from nnet.node.blob_fetch import MAX_SPEC_BYTES, nested_blobs

    store = BlobStore(tmp_path / "blobs")
    labels = _cid("labels")
    spec = f'[data]\nformat = "idx"\ncid = "{_cid("data")}"\nlabels_cid = "{labels}"\n'.encode()
    spec_cid = store.put([spec]).cid
    assert nested_blobs(store, _job_submit(spec_cid)) == [labels]
    # a spec not here yet, one that is not TOML, one too big: nothing named (no error)
    assert nested_blobs(store, _job_submit(_cid("absent"))) == []
    junk = store.put([b"\xff not toml ["]).cid
    assert nested_blobs(store, _job_submit(junk)) == []
    big = store.put([spec + b"#" * MAX_SPEC_BYTES]).cid
    assert nested_blobs(store, _job_submit(big)) == []
