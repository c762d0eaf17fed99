"""`GET /blobs/{cid}` with HTTP Range on a real daemon: 206 with Content-Range, 416 past the end,
200 without (or with a Range it ignores); a resumed download reassembles the same bytes; and a
corrupt blob is refused before any byte of a range, even once a range of it was served."""

from __future__ import annotations

import os
import time

import pytest

from nnet.cid import compute_cid
from nnet.client import NodeClient
from nnet.errors import VerificationFailed
from nnet.node.blobs_api import ByteRange, parse_range
from nnet.store.blobs import CHUNK
from tests.node.conftest import RunningNode

DATA = os.urandom(2 * CHUNK + 12_345)  # several chunks each way, and a ragged end
CID = compute_cid(DATA)
SIZE = len(DATA)


@pytest.fixture
def stored(running: RunningNode) -> RunningNode:
    with NodeClient(running.url) as client:
        assert client.put_blob(DATA, signer=running.users[0].secret)["cid"] == CID
    return running


@pytest.mark.parametrize(
    ("header", "want"),
    [
        ("bytes=0-", ByteRange(0, 99)),
        ("bytes=10-19", ByteRange(10, 19)),
        ("bytes=90-500", ByteRange(90, 99)),  # the end is cut to the blob's
        ("bytes=-30", ByteRange(70, 99)),
        ("bytes=-500", ByteRange(0, 99)),
        ("BYTES=5-5", ByteRange(5, 5)),
        ("bytes=100-", ByteRange(100, 99)),  # unsatisfiable: starts at the end
        ("bytes=-0", ByteRange(100, 99)),
        ("bytes=5-4", None),  # not a range: ignored
        ("bytes=0-1,5-6", None),  # several ranges: ignored (the whole blob)
        ("items=0-5", None),
        ("bytes=-", None),
        ("bytes=٣-", None),  # only ASCII digits
    ],
)
def test_parse_range(header: str, want: ByteRange | None) -> None:
    assert parse_range(header, 100) == want


def test_no_range_is_200_with_the_whole_blob(stored: RunningNode) -> None:
    r = stored.http.get(f"/blobs/{CID}")
    assert r.status_code == 200 and r.content == DATA
    assert r.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        (f"bytes={CHUNK + 7}-", CHUNK + 7, SIZE - 1),
        ("bytes=0-", 0, SIZE - 1),
        ("bytes=3-10", 3, 10),
        (f"bytes={SIZE - 1}-{SIZE + 50}", SIZE - 1, SIZE - 1),
        ("bytes=-1000", SIZE - 1000, SIZE - 1),
    ],
)
def test_a_range_is_206_with_content_range(
    stored: RunningNode, header: str, first: int, last: int
) -> None:
    r = stored.http.get(f"/blobs/{CID}", headers={"range": header})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes {first}-{last}/{SIZE}"
    assert int(r.headers["content-length"]) == last - first + 1
    assert r.content == DATA[first : last + 1]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_a_range_past_the_end_is_416(stored: RunningNode, header: str) -> None:
    r = stored.http.get(f"/blobs/{CID}", headers={"range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{SIZE}"
    assert r.json()["code"] == "range_not_satisfiable"


def test_a_range_it_ignores_gets_the_whole_blob(stored: RunningNode) -> None:
    r = stored.http.get(f"/blobs/{CID}", headers={"range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and r.content == DATA


def test_ranges_of_a_missing_or_misnamed_blob(running: RunningNode) -> None:
    absent = compute_cid(b"absent")
    assert running.http.get(f"/blobs/{absent}", headers={"range": "bytes=0-"}).status_code == 404
    assert running.http.get("/blobs/not-a-cid", headers={"range": "bytes=0-"}).status_code == 400


def test_a_resumed_download_reassembles_identical_bytes(stored: RunningNode) -> None:
    """Cut a download off after some bytes, resume from there: the same bytes, in order."""
    with NodeClient(stored.url) as client:
        with client.blob_from(CID) as whole:
            assert (whole.start, whole.size) == (0, SIZE)
            got = b""
            for chunk in whole.chunks:
                got += chunk
                if len(got) > CHUNK:
                    break  # the connection drops here
        with client.blob_from(CID, len(got)) as rest:
            assert (rest.start, rest.size) == (len(got), SIZE)
            got += b"".join(rest.chunks)
        with client.blob_from(CID, SIZE) as past:  # nothing left: 416, told as no chunks
            assert (past.start, past.size, list(past.chunks)) == (SIZE, SIZE, [])
    assert got == DATA and compute_cid(got) == CID


def test_a_corrupt_blob_is_refused_before_any_byte_of_a_range(stored: RunningNode) -> None:
    blob = stored.home / "blobs" / CID[-2:] / CID
    with NodeClient(stored.url) as client:
        with client.blob_from(CID, 5) as part:  # verified once, and remembered
            assert b"".join(part.chunks) == DATA[5:]
        blob.write_bytes(b"x" + DATA[1:])  # the disk goes bad, as a rewrite: a new mtime
        later = time.time() + 5
        os.utime(blob, (later, later))  # (coarse file-system clocks could keep the old one)
        r = stored.http.get(f"/blobs/{CID}", headers={"range": f"bytes={SIZE - 10}-"})
        assert r.status_code == 400 and r.json()["code"] == "verification_failed"
        assert r.content.startswith(b"{")  # an error document, none of the blob's bytes
        with pytest.raises(VerificationFailed, match="corrupt"), client.blob_from(CID, 0):
            pass
