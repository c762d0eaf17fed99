"""Equivocation evidence: two validly signed, conflicting votes convict; anything less does not
(an honest validator can never be framed: the signing record refuses the second vote)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnet import bls
from nnet.chain.commit import vote_message
from nnet.chain.evidence import SignedVote, check_equivocation
from nnet.node.consensus.signing import DoubleSignRefused, SigningRecord

CHAIN = "nnet-devnet"
SK = bls.derive_secret(b"\x09" * 32)
PK = bls.sk_to_pk(SK)
A, B = b"\xaa" * 32, b"\xbb" * 32


def _vote(block: bytes | None, *, height: int = 4, round_: int = 1, type_: str = "precommit",
          sk: int = SK, validator: str = "V") -> SignedVote:  # fmt: skip
    sig = bls.sign(sk, vote_message(CHAIN, type_, height, round_, block))
    return SignedVote(type_, height, round_, block, validator, sig)


def test_two_signed_votes_for_different_blocks_convict() -> None:
    assert check_equivocation(CHAIN, PK, _vote(A), _vote(B)) is None
    assert check_equivocation(CHAIN, PK, _vote(A), _vote(None)) is None  # nil is a block here


@pytest.mark.parametrize(
    ("b", "why"),
    [
        (_vote(A), "same block"),
        (_vote(B, height=5), "different heights"),
        (_vote(B, round_=2), "different heights, rounds"),
        (_vote(B, type_="prevote"), "steps"),
        (_vote(B, validator="W"), "different validators"),
        (_vote(B, sk=bls.derive_secret(b"\x0a" * 32)), "does not verify"),
    ],
)
def test_anything_less_does_not(b: SignedVote, why: str) -> None:
    assert why in (check_equivocation(CHAIN, PK, _vote(A), b) or "")


def test_a_vote_signed_for_another_chain_is_no_evidence_here() -> None:
    other = bls.sign(SK, vote_message("nnet-other", "precommit", 4, 1, B))
    b = SignedVote("precommit", 4, 1, B, "V", other)
    assert "does not verify" in (check_equivocation(CHAIN, PK, _vote(A), b) or "")


def test_an_honest_validator_cannot_produce_evidence_against_itself(tmp_path: Path) -> None:
    rec = SigningRecord(tmp_path / "signing.json", CHAIN, SK)
    sig = rec.sign_vote("precommit", 4, 1, A)
    assert check_equivocation(CHAIN, PK, _vote(A), SignedVote("precommit", 4, 1, A, "V", sig))
    with pytest.raises(DoubleSignRefused):
        rec.sign_vote("precommit", 4, 1, B)
