"""Blob upload permits: what a node asks of anyone who wants it to keep bytes.

A permit is a small signed JSON document, sent in the `x-nnet-permit` header of `PUT /blobs`:

    {"kind":"blob.permit","chain":"nnet-devnet","uploader":"0x…","cid":"bafk…","size":123,
     "expires":1767225600000,"sig":"0x…"}

signed by the uploader's key with the rule every signed document of nnet uses (keccak256 over the
RFC 8785 canonical JSON without `sig`; `nnet.proof.document`). It names the one blob it admits,
by CID and size, so it can neither be stretched to more bytes nor spent on other content, and it
expires (milliseconds since the epoch). The node checks the signature and the chain here, then
that the uploader is funded against its committed state (blobs_api.py), before it reads a byte
of the body. Replaying a permit can only re-upload the same bytes, which the store keeps once.

Both sides use this module: the node to check a header, the client to sign one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nnet.cid import parse_cid
from nnet.encoding import canonical_json, strict_loads
from nnet.errors import MalformedInput, NnetError, PermitRefused, PermitRequired
from nnet.proof.document import sign_document, verify_document

__all__ = [
    "DEFAULT_LIFETIME_MS",
    "MAX_LIFETIME_MS",
    "MAX_PERMIT_CHARS",
    "PERMIT_HEADER",
    "PERMIT_KIND",
    "BlobPermit",
    "check_permit_terms",
    "parse_permit",
    "sign_permit",
]

PERMIT_HEADER = "x-nnet-permit"
PERMIT_KIND = "blob.permit"
PERMIT_FIELDS = frozenset({"kind", "chain", "uploader", "cid", "size", "expires", "sig"})
MAX_PERMIT_CHARS = 1024  # a permit is ~330 characters; anything far longer is not one
MAX_LIFETIME_MS = 24 * 3600 * 1000  # a node refuses permits that expire later than this from now
DEFAULT_LIFETIME_MS = 3600 * 1000  # what clients sign: long enough for a slow upload
_MAX_UINT = 2**53 - 1


@dataclass(frozen=True)
class BlobPermit:
    """A permit whose signature has been checked (parse_permit) or just made (sign_permit)."""

    chain: str
    uploader: str
    cid: str
    size: int
    expires: int
    sig: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": PERMIT_KIND,
            "chain": self.chain,
            "uploader": self.uploader,
            "cid": self.cid,
            "size": self.size,
            "expires": self.expires,
            "sig": self.sig,
        }

    def header_value(self) -> str:
        """The permit as the header carries it: its canonical JSON (ASCII, one line)."""
        return canonical_json(self.to_dict()).decode("ascii")


def sign_permit(secret: bytes, *, chain: str, cid: str, size: int, expires: int) -> BlobPermit:
    """A permit for the blob `cid` of `size` bytes on `chain`, valid until `expires` (ms)."""
    parse_cid(cid)
    doc = {"kind": PERMIT_KIND, "chain": chain, "cid": cid, "size": size, "expires": expires}
    signed = sign_document(doc, secret, "uploader")
    return _from_document(signed, signed["uploader"])


def parse_permit(text: str | None) -> BlobPermit:
    """The permit in a header value, its signature checked; PermitRequired (401) if there is
    none or it is not a well-formed permit signed by the uploader it names."""
    if text is None:
        raise PermitRequired(
            "uploads need a signed permit from a funded account",
            hint=f"send one in the {PERMIT_HEADER} header (`nnet store put` signs one)",
        )
    try:
        if len(text) > MAX_PERMIT_CHARS:
            raise PermitRequired(f"the permit is over {MAX_PERMIT_CHARS} characters")
        doc = strict_loads(text)
        return _from_document(doc, verify_document(doc, PERMIT_KIND, "uploader"))
    except NnetError as e:
        raise PermitRequired(f"bad upload permit: {e.message}", code="bad_permit") from None


def check_permit_terms(permit: BlobPermit, *, chain: str, now_ms: int) -> None:
    """PermitRefused (403) unless the permit is for this chain and valid now, expiring within
    MAX_LIFETIME_MS (a permit good for years would be a standing licence to fill the disk)."""
    if permit.chain != chain:
        raise PermitRefused(
            f"the permit is for chain {permit.chain!r}; this node serves {chain!r}",
            code="wrong_chain",
        )
    if permit.expires <= now_ms:
        raise PermitRefused(
            f"the permit expired {now_ms - permit.expires} ms ago",
            code="permit_expired",
            hint="sign a new one",
        )
    if permit.expires > now_ms + MAX_LIFETIME_MS:
        raise PermitRefused(
            f"the permit expires {permit.expires - now_ms} ms from now; at most "
            f"{MAX_LIFETIME_MS} ms is accepted",
            code="permit_too_long",
        )


def _from_document(doc: dict[str, Any], uploader: str) -> BlobPermit:
    """The typed permit of a document signed by `uploader` (MalformedInput if misshapen)."""
    if set(doc) != PERMIT_FIELDS:
        raise MalformedInput(f"a permit has exactly the fields {', '.join(sorted(PERMIT_FIELDS))}")
    chain, size, expires = doc["chain"], doc["size"], doc["expires"]
    if not isinstance(chain, str) or not (0 < len(chain) <= 64 and chain.isascii()):
        raise MalformedInput("permit chain must be 1 to 64 ASCII characters")
    for name, value in (("size", size), ("expires", expires)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_UINT:
            raise MalformedInput(f"permit {name} must be an integer from 0 to 2^53-1")
    parse_cid(doc["cid"], "permit cid")
    if doc["uploader"] != uploader:  # one spelling, so the signed bytes are unique
        raise MalformedInput(f"permit uploader must be written in its EIP-55 form {uploader}")
    return BlobPermit(chain, uploader, doc["cid"], size, expires, str(doc["sig"]))
