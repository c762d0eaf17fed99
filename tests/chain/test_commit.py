"""Commit certificates: one aggregate verification proves a block final, and every way of
faking one fails (too little power, a wrong bitmap, a signature over another block, round or
chain, a signer outside the set)."""

from __future__ import annotations

import pytest

from nnet import bls
from nnet.chain.commit import (
    Certificate,
    ValidatorKey,
    make_certificate,
    verify_certificate,
    vote_message,
)
from nnet.errors import MalformedInput

CHAIN = "nnet-devnet"
SKS = [bls.derive_secret(bytes([i]) * 32) for i in range(1, 5)]
SET = [
    ValidatorKey(f"V{i}", bls.sk_to_pk(sk), p)
    for i, (sk, p) in enumerate(zip(SKS, [40, 30, 20, 10], strict=True))
]
BLOCK = b"\xbb" * 32


def _precommits(
    indexes: list[int], block: bytes = BLOCK, round_: int = 0, chain: str = CHAIN
) -> dict[str, bytes]:
    msg = vote_message(chain, "precommit", 9, round_, block)
    return {SET[i].address: bls.sign(SKS[i], msg) for i in indexes}


def test_more_than_two_thirds_of_the_power_is_final() -> None:
    cert = make_certificate(SET, 9, 0, BLOCK, _precommits([0, 1, 2]))  # 90 of 100
    assert cert.signer_indexes() == [0, 1, 2]
    assert verify_certificate(CHAIN, SET, cert) is None
    assert len(cert.signature) == 96 and len(cert.signers) == 1


def test_two_thirds_or_less_is_not() -> None:
    cert = make_certificate(SET, 9, 0, BLOCK, _precommits([0, 3, 2]))  # 70 of 100
    assert verify_certificate(CHAIN, SET, cert) is None
    cert = make_certificate(SET, 9, 0, BLOCK, _precommits([1, 2, 3]))  # 60 of 100
    assert "not more than 2/3" in (verify_certificate(CHAIN, SET, cert) or "")


def test_forgeries_fail() -> None:
    good = make_certificate(SET, 9, 0, BLOCK, _precommits([0, 1, 2]))
    # claim a signer who did not sign (the bitmap says 0,1,2,3; the signature holds 0,1,2)
    assert verify_certificate(CHAIN, SET, Certificate(9, 0, BLOCK, b"\x0f", good.signature))
    # claim fewer signers than signed
    assert verify_certificate(CHAIN, SET, Certificate(9, 0, BLOCK, b"\x03", good.signature))
    # the same signatures presented for another block, round or height
    assert verify_certificate(CHAIN, SET, Certificate(9, 0, b"\xcc" * 32, b"\x07", good.signature))
    assert verify_certificate(CHAIN, SET, Certificate(9, 1, BLOCK, b"\x07", good.signature))
    assert verify_certificate(CHAIN, SET, Certificate(10, 0, BLOCK, b"\x07", good.signature))
    # signed for another chain
    other = make_certificate(SET, 9, 0, BLOCK, _precommits([0, 1, 2], chain="nnet-other"))
    assert verify_certificate(CHAIN, SET, other)
    # a bitmap that does not fit the set
    assert verify_certificate(CHAIN, SET, Certificate(9, 0, BLOCK, b"\x07\x00", good.signature))
    assert verify_certificate(CHAIN, SET[:2], good)  # bit 2 past the end of a 2-validator set
    # a prevote quorum is not a commit
    pre = vote_message(CHAIN, "prevote", 9, 0, BLOCK)
    sigs = {SET[i].address: bls.sign(SKS[i], pre) for i in [0, 1, 2]}
    assert verify_certificate(CHAIN, SET, make_certificate(SET, 9, 0, BLOCK, sigs))


def test_a_signer_outside_the_set_is_refused() -> None:
    with pytest.raises(MalformedInput):
        make_certificate(SET, 9, 0, BLOCK, {"stranger": b"\x00" * 96})
