"""CIDs match what IPFS computes for raw single-block content."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnet.cid import compute_cid, compute_file_cid, is_cid, parse_cid
from nnet.errors import MalformedInput, NotFound


def test_hello_world_matches_ipfs() -> None:
    assert compute_cid(b"Hello world") == (
        "bafkreide5semuafsnds3ugrvm6fbwuyw2ijpj43gwjdxemstjkfozi37hq"
    )


def test_empty_matches_ipfs() -> None:
    # `ipfs add --cid-version 1 --raw-leaves` of an empty file
    assert compute_cid(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_file_cid_streams_same_as_bytes(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # several read chunks
    p = tmp_path / "blob"
    p.write_bytes(data)
    assert compute_file_cid(p) == compute_cid(data)


def test_parse_roundtrip_and_refusals(tmp_path: Path) -> None:
    import hashlib

    cid = compute_cid(b"abc")
    assert parse_cid(cid) == hashlib.sha256(b"abc").digest()
    assert is_cid(cid)
    for bad in ("", "Qm123", cid.upper(), cid[:-2], "b" + "a" * 10, 5):
        assert not is_cid(bad)
    with pytest.raises(MalformedInput):
        parse_cid("bnotbase32!!")
    with pytest.raises(NotFound):
        compute_file_cid(tmp_path / "missing")


def test_a_cid_has_one_spelling() -> None:
    """base32 leaves unused low bits in the last character: a flipped one decodes to the same
    digest, so it would name the same content with another string; it is refused."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    for data in (b"", b"x", b"some bytes" * 100):
        cid = compute_cid(data)
        assert parse_cid(cid)
        i = alphabet.index(cid[-1])
        for flip in (1, 2, 3):
            other = cid[:-1] + alphabet[i ^ flip]
            with pytest.raises(MalformedInput):
                parse_cid(other)
