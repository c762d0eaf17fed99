"""Who may fill a node's disk: uploads need a signed permit from a funded account, and the store
is bounded per blob, in total and by the free disk space; refusals come before the body is read
and leave nothing behind (a real daemon, real signatures)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from nnet.cid import compute_cid
from nnet.client import NodeClient
from nnet.encoding import UNIT
from nnet.errors import PermitRefused, PermitRequired, StorageFull
from nnet.node.permit import MAX_LIFETIME_MS, PERMIT_HEADER, BlobPermit, sign_permit
from nnet.node.server import DaemonOptions
from tests.chain.helpers import Account, account
from tests.node.conftest import RunningNode, devnet_init, start_daemon

GIB = 1 << 30


def now_ms() -> int:
    return int(time.time() * 1000)


def permit(
    signer: Account,
    data: bytes,
    *,
    chain: str = "nnet-devnet",
    size: int | None = None,
    expires: int | None = None,
) -> BlobPermit:
    return sign_permit(
        signer.secret,
        chain=chain,
        cid=compute_cid(data),
        size=len(data) if size is None else size,
        expires=now_ms() + 60_000 if expires is None else expires,
    )


def put(http: httpx.Client, data: bytes | Iterator[bytes], p: BlobPermit | str | None) -> Any:
    headers = {} if p is None else {PERMIT_HEADER: p if isinstance(p, str) else p.header_value()}
    return http.put("/blobs", content=data, headers=headers)


def assert_nothing_kept(home: Path) -> None:
    blobs = home / "blobs"
    assert not list(blobs.glob("*/b*")), "a refused upload was stored"
    assert not list(blobs.glob(".incoming-*")), "a refused upload left its temp file"


def refusal(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["code"]


@contextmanager
def daemon(home: Path, **opts: Any) -> Iterator[tuple[str, httpx.Client]]:
    """A devnet daemon with DaemonOptions `opts`; the users of `account("node-user-i")` funded."""
    if not (home / "genesis.json").exists():
        devnet_init(home, [account(f"node-user-{i}") for i in range(2)])
    d, thread = start_daemon(DaemonOptions(home=home, port=0, block_time_s=0.05, **opts))
    try:
        with httpx.Client(base_url=d.url, timeout=10) as http:
            yield d.url, http
    finally:
        d.stop()
        thread.join(timeout=10)


# ---- permits ------------------------------------------------------------------------------------
def test_anonymous_upload_is_refused_before_the_body(running: RunningNode) -> None:
    r = put(running.http, b"free storage?", None)
    assert refusal(r) == (401, "permit_required")
    assert PERMIT_HEADER in r.json()["error"]
    assert_nothing_kept(running.home)


def test_a_funded_permit_uploads(running: RunningNode) -> None:
    data = b"paid for"
    r = put(running.http, data, permit(running.users[0], data))
    assert r.status_code == 201 and r.json() == {"cid": compute_cid(data), "size": len(data)}
    assert running.http.get(f"/blobs/{compute_cid(data)}").content == data


def test_forged_and_malformed_permits_are_401(running: RunningNode) -> None:
    data = b"forged"
    good = permit(running.users[0], data).to_dict()
    # a stranger's signature claiming a funded uploader; a signed permit stretched afterwards
    stranger = permit(account("stranger"), data).to_dict()
    claims_funded = {**stranger, "uploader": running.users[1].address}
    stretched = {**good, "size": 10**9}
    for doc in (claims_funded, stretched):
        r = put(running.http, data, json.dumps(doc, separators=(",", ":")))
        assert refusal(r) == (401, "bad_permit"), r.json()
    for text in ("not json", "{}", json.dumps({**good, "extra": 1}), "x" * 5000):
        assert refusal(put(running.http, data, text)) == (401, "bad_permit")
    assert_nothing_kept(running.home)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda u, d: permit(u, d, expires=now_ms() - 1), "permit_expired"),
        (lambda u, d: permit(u, d, expires=now_ms() + MAX_LIFETIME_MS + 60_000), "permit_too_long"),
        (lambda u, d: permit(u, d, chain="another-chain"), "wrong_chain"),
        (lambda u, d: permit(account("never-funded"), d), "unfunded"),
    ],
    ids=["expired", "too-long-lived", "wrong-chain", "unfunded"],
)
def test_permits_the_node_will_not_honour_are_403(
    running: RunningNode, make: Callable[[Account, bytes], BlobPermit], code: str
) -> None:
    data = b"refused"
    r = put(running.http, data, make(running.users[0], data))
    assert refusal(r) == (403, code), r.json()
    assert_nothing_kept(running.home)


def test_a_permit_for_one_blob_cannot_store_other_bytes(running: RunningNode) -> None:
    granted = b"the blob the permit names"
    p = permit(running.users[0], granted)
    r = put(running.http, b"something else, and longer than that", p)  # over its size: unread
    assert refusal(r) == (413, "too_large")
    r = put(running.http, b"the blob the permit NAMES", p)  # same size, other bytes
    assert refusal(r) == (400, "verification_failed")
    # streamed with no content-length: cut off as it passes the permit's size
    r = put(running.http, iter([granted, b"and more"]), p)
    assert refusal(r) == (413, "too_large")
    assert_nothing_kept(running.home)
    assert running.http.get(f"/blobs/{compute_cid(granted)}").status_code == 404


def raw_put(url: str, headers: dict[str, str], first_bytes: bytes) -> tuple[int, dict[str, Any]]:
    """PUT /blobs declaring a body, sending only its first bytes, then reading the answer: the
    answer can only come if the node refuses without waiting for the rest."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"PUT /blobs HTTP/1.1\r\nHost: {host}:{port}\r\n{head}\r\n".encode()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request + first_bytes)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head_bytes, _, body = answer.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head_bytes.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += sock.recv(65536)
    return int(head_bytes.split(b" ")[1]), json.loads(body)


def test_a_2_gib_blob_is_refused_without_reading_it(running: RunningNode) -> None:
    declared = {"Content-Length": str(2 * GIB)}
    status, err = raw_put(running.url, declared, b"x" * 1000)  # anonymous
    assert (status, err["code"]) == (413, "too_large")
    funded = permit(running.users[0], b"x", size=2 * GIB)  # even a funded one: over the limit
    status, err = raw_put(
        running.url, {**declared, PERMIT_HEADER: funded.header_value()}, b"x" * 1000
    )
    assert (status, err["code"]) == (413, "too_large")
    assert_nothing_kept(running.home)


def test_under_a_larger_blob_limit_an_anonymous_2_gib_blob_is_401_unread(tmp_path: Path) -> None:
    with daemon(tmp_path / "home", max_blob_bytes=4 * GIB) as (url, _):
        status, err = raw_put(url, {"Content-Length": str(2 * GIB)}, b"x" * 1000)
    assert (status, err["code"]) == (401, "permit_required")
    assert_nothing_kept(tmp_path / "home")


def test_min_permit_balance_is_the_daemons_option(tmp_path: Path) -> None:
    rich = account("node-user-0")  # funded with 1000 NNET
    with daemon(tmp_path / "home", min_permit_balance=1001 * UNIT) as (_, http):
        r = put(http, b"data", permit(rich, b"data"))
    assert refusal(r) == (403, "unfunded") and "1001" in r.json()["error"]


# ---- limits -------------------------------------------------------------------------------------
def test_per_blob_limit(tmp_path: Path) -> None:
    user = account("node-user-0")
    at_limit, over = b"a" * 1000, b"b" * 1001
    with daemon(tmp_path / "home", max_blob_bytes=1000) as (_, http):
        assert put(http, at_limit, permit(user, at_limit)).status_code == 201
        assert refusal(put(http, over, permit(user, over))) == (413, "too_large")
        # a permit that understates the size does not get past the limit either
        assert refusal(put(http, iter([over]), permit(user, over, size=999))) == (413, "too_large")
    assert not list((tmp_path / "home" / "blobs").glob(".incoming-*"))


def test_quota_is_507_and_counted_again_after_a_restart(tmp_path: Path) -> None:
    user, home = account("node-user-0"), tmp_path / "home"
    first, second = b"1" * 60, b"2" * 60
    with daemon(home, blob_quota_bytes=100) as (url, http):
        assert put(http, first, permit(user, first)).status_code == 201
        assert refusal(put(http, second, permit(user, second))) == (507, "quota")
        assert put(http, first, permit(user, first)).status_code == 201  # held already: free
        with NodeClient(url) as client, pytest.raises(StorageFull) as caught:
            client.put_blob(second, signer=user.secret)
        assert caught.value.code == "quota"
    with daemon(home, blob_quota_bytes=100) as (_, http):
        assert refusal(put(http, second, permit(user, second))) == (507, "quota")
        assert [b["cid"] for b in http.get("/blobs").json()["blobs"]] == [compute_cid(first)]
    assert not list((home / "blobs").glob(".incoming-*"))


def test_a_nearly_full_disk_is_507(tmp_path: Path) -> None:
    user, home = account("node-user-0"), tmp_path / "home"
    # no disk has 4 EiB free: every upload would leave less than the minimum
    with daemon(home, min_free_disk_bytes=1 << 62) as (url, http):
        assert refusal(put(http, b"data", permit(user, b"data"))) == (507, "disk_full")
        with NodeClient(url) as client, pytest.raises(StorageFull) as caught:
            client.put_blob(b"data", signer=user.secret)
        assert caught.value.code == "disk_full" and caught.value.exit_code == 1
    assert_nothing_kept(home)


def test_unfinished_uploads_are_deleted_on_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    devnet_init(home, [account("node-user-0")])
    leftover = home / "blobs" / ".incoming-crashed"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half an upload")
    with daemon(home):
        assert not leftover.exists()


def test_client_refusals_are_typed(running: RunningNode) -> None:
    with NodeClient(running.url) as client:
        with pytest.raises(PermitRefused) as refused:
            client.put_blob(b"data", signer=account("never-funded").secret)
        assert refused.value.code == "unfunded"
        good = permit(running.users[0], b"data")
        unsigned = BlobPermit(good.chain, good.uploader, good.cid, good.size, good.expires, "0x")
        with pytest.raises(PermitRequired) as required:
            client.put_blob(iter([b"data"]), signer=unsigned)
        assert required.value.code == "bad_permit"


# ---- listing ------------------------------------------------------------------------------------
def test_paging_walks_every_blob_once(running: RunningNode) -> None:
    blobs = [f"blob {i}".encode() for i in range(7)]
    with NodeClient(running.url) as client:
        for data in blobs:
            client.put_blob(data, signer=running.users[0].secret)
        assert sorted(b["cid"] for b in client.list_blobs()) == sorted(map(compute_cid, blobs))
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"limit": "2"} if after is None else {"limit": "2", "after": after}
        page = running.http.get("/blobs", params=params).json()
        assert len(page["blobs"]) <= 2
        seen += [b["cid"] for b in page["blobs"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert sorted(seen) == sorted(map(compute_cid, blobs)) and pages == 4


@pytest.mark.parametrize("query", ["limit=1001", "limit=-1", "limit=abc", "after=bafknotacid"])
def test_bad_listing_parameters_are_400(running: RunningNode, query: str) -> None:
    r = running.http.get(f"/blobs?{query}")
    assert refusal(r) == (400, "malformed")
