"""Signed JSON documents (proofs, attestations): one signing and one checking function.

A document is a JSON object with `kind`, a signer field and `sig`, where
sig = sign_hash(secret, keccak256(canonical_json(document without "sig"))). The marketplace later
wraps these documents into transactions; the signature rule stays the same.
"""

from __future__ import annotations

from typing import Any

from nnet.crypto import address_of_private_key, keccak256, normalize_address, recover_address
from nnet.encoding import canonical_json
from nnet.errors import MalformedInput, VerificationFailed

__all__ = ["compute_document_hash", "sign_document", "verify_document"]


def compute_document_hash(doc: dict[str, Any]) -> bytes:
    """keccak256 of the canonical JSON of the document without its signature."""
    return keccak256(canonical_json({k: v for k, v in doc.items() if k != "sig"}))


def sign_document(doc: dict[str, Any], secret: bytes, signer_field: str) -> dict[str, Any]:
    """The document with `signer_field` set to the key's address and `sig` added."""
    body = {k: v for k, v in doc.items() if k != "sig"}
    body[signer_field] = address_of_private_key(secret)
    from nnet.crypto import sign_hash

    return {**body, "sig": sign_hash(secret, compute_document_hash(body))}


def verify_document(doc: Any, kind: str, signer_field: str) -> str:
    """The signer's address if `doc` is a `kind` document signed by its `signer_field`.

    MalformedInput for a document of the wrong shape; VerificationFailed for a signature that does
    not recover to the named signer.
    """
    if not isinstance(doc, dict):
        raise MalformedInput(f"a {kind} document must be a JSON object")
    if doc.get("kind") != kind:
        raise MalformedInput(f"expected a {kind} document, got kind {doc.get('kind')!r}")
    claimed = normalize_address(doc.get(signer_field), signer_field)
    if "sig" not in doc:
        raise VerificationFailed(f"{kind} is not signed (no sig)")
    signer = recover_address(compute_document_hash(doc), doc["sig"])
    if signer != claimed:
        raise VerificationFailed(
            f"signature does not match the {signer_field}: signed by {signer}, claims {claimed}"
        )
    return signer
