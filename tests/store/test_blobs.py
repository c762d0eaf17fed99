"""The blob store: IPFS-compatible names, atomic writes, hashes checked on every read."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnet.cid import compute_cid
from nnet.errors import NotFound, VerificationFailed
from nnet.store.blobs import BlobStore, verify_stream

HELLO_CID = "bafkreide5semuafsnds3ugrvm6fbwuyw2ijpj43gwjdxemstjkfozi37hq"


def test_hello_world_gets_the_cid_ipfs_gives_it(tmp_path: Path) -> None:
    info = BlobStore(tmp_path).put([b"Hello ", b"world"])
    assert info.cid == HELLO_CID and info.size == 11
    assert b"".join(BlobStore(tmp_path).read(HELLO_CID)) == b"Hello world"


def test_large_blob_streams_in_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 20_000  # 5 MB, several chunks
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    store = BlobStore(tmp_path / "blobs")
    info = store.put_file(src)
    assert info.cid == compute_cid(data)
    chunks = list(store.read(info.cid))
    assert len(chunks) > 1 and b"".join(chunks) == data
    assert [b.cid for b in store.list()] == [info.cid]


def test_corrupted_blob_is_refused_on_read(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    info = store.put([b"weights"])
    store.path(info.cid).write_bytes(b"WEIGHTS")
    with pytest.raises(VerificationFailed, match="corrupt"):
        b"".join(store.read(info.cid))


def test_put_with_expected_cid_refuses_other_bytes_and_keeps_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(VerificationFailed):
        store.put([b"not hello"], expect_cid=HELLO_CID)
    assert store.list() == [] and not list(tmp_path.glob(".incoming-*"))


def test_missing_blob_and_bad_cid(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(NotFound):
        store.read(HELLO_CID)
    with pytest.raises(Exception, match="CID"):
        store.read("Qm-not-a-cid")


def test_verify_stream_catches_bytes_that_do_not_match() -> None:
    assert b"".join(verify_stream([b"Hello world"], HELLO_CID)) == b"Hello world"
    with pytest.raises(VerificationFailed):
        b"".join(verify_stream([b"Hello World"], HELLO_CID))
