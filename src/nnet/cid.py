"""Content identifiers: CIDv1, raw codec, sha2-256, multibase base32 (what IPFS gives a file that
fits in one block, e.g. `ipfs add --raw-leaves --cid-version 1`).

Datasets and checkpoints are named by these CIDs, so a job spec commits to its data by content,
not by path. Pure hashlib and base64: no torch, no network.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from nnet.errors import MalformedInput, NotFound

__all__ = ["cid_of_digest", "compute_cid", "compute_file_cid", "is_cid", "parse_cid"]

CID_VERSION = 0x01
RAW_CODEC = 0x55
SHA2_256 = 0x12
DIGEST_LEN = 32
_PREFIX = bytes([CID_VERSION, RAW_CODEC, SHA2_256, DIGEST_LEN])
_CHUNK = 1 << 20


def _encode(digest: bytes) -> str:
    # multibase 'b' = RFC 4648 base32, lower case, no padding
    return "b" + base64.b32encode(_PREFIX + digest).decode("ascii").lower().rstrip("=")


def cid_of_digest(digest: bytes) -> str:
    """CID of content whose sha2-256 digest is already known (streamed hashing)."""
    if len(digest) != DIGEST_LEN:
        raise ValueError("a sha2-256 digest is 32 bytes")
    return _encode(digest)


def compute_cid(data: bytes) -> str:
    """CID of a byte string.

    b"Hello world" -> bafkreide5semuafsnds3ugrvm6fbwuyw2ijpj43gwjdxemstjkfozi37hq
    """
    return _encode(hashlib.sha256(data).digest())


def compute_file_cid(path: Path) -> str:
    """CID of a file's bytes, streamed so large datasets do not have to fit in memory."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}") from None
    return _encode(h.digest())


def parse_cid(text: object, field: str = "cid") -> bytes:
    """The sha2-256 digest inside a CIDv1 raw/sha2-256 base32 string; MalformedInput otherwise."""
    if not isinstance(text, str) or not text.startswith("b") or text != text.lower():
        raise MalformedInput(f"{field} {text!r} is not a CIDv1 base32 string (b...)")
    body = text[1:].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        raise MalformedInput(f"{field} {text!r} is not valid base32") from None
    if len(raw) != len(_PREFIX) + DIGEST_LEN or raw[: len(_PREFIX)] != _PREFIX:
        raise MalformedInput(f"{field} {text!r} is not a CIDv1 raw sha2-256 identifier")
    digest = raw[len(_PREFIX) :]
    # one spelling per content: base32 ignores the unused low bits of the last character, so a
    # flipped padding bit would name the same bytes with another string
    if cid_of_digest(digest) != text:
        raise MalformedInput(f"{field} {text!r} is not the canonical spelling of its CID")
    return digest


def is_cid(text: object) -> bool:
    """Whether text is a well-formed CIDv1 raw sha2-256 base32 string."""
    try:
        parse_cid(text)
    except MalformedInput:
        return False
    return True
