"""Signed documents: a signature binds every field and the signer."""

from __future__ import annotations

import pytest

from nnet.crypto import address_of_private_key
from nnet.errors import MalformedInput, VerificationFailed
from nnet.proof.document import sign_document, verify_document

SECRET = bytes(range(1, 33))


def test_sign_then_verify_and_tamper() -> None:
    doc = sign_document({"kind": "nnet.proof", "v": 1, "root": "0xab"}, SECRET, "prover")
    assert verify_document(doc, "nnet.proof", "prover") == address_of_private_key(SECRET)
    with pytest.raises(VerificationFailed):
        verify_document({**doc, "root": "0xac"}, "nnet.proof", "prover")
    other = address_of_private_key(bytes(range(2, 34)))
    with pytest.raises(VerificationFailed, match="does not match the prover"):
        verify_document({**doc, "prover": other}, "nnet.proof", "prover")
    with pytest.raises(VerificationFailed):
        verify_document({k: v for k, v in doc.items() if k != "sig"}, "nnet.proof", "prover")
    with pytest.raises(MalformedInput):
        verify_document({**doc, "kind": "nnet.attestation"}, "nnet.proof", "prover")
