"""Equivocation evidence: two signed votes that prove a validator double-signed (NETWORK.md).

Anyone who holds two votes by one validator for the same (height, round, type) naming different
blocks (nil counts as a block here) can prove it: each vote's BLS signature verifies under the
validator's registered key over `vote_message`. The chain slashes and jails on such evidence
(an `evidence` transaction, issue 13); this module is the check, pure, so the transaction
processor, the gossip layer and the tests all use the same one.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnet import bls
from nnet.chain.commit import vote_message

__all__ = ["SignedVote", "check_equivocation"]


@dataclass(frozen=True)
class SignedVote:
    type: str  # "prevote" | "precommit"
    height: int
    round: int
    block_id: bytes | None  # None: nil
    validator: str
    signature: bytes


def check_equivocation(chain: str, bls_key: bytes, a: SignedVote, b: SignedVote) -> str | None:
    """None if `a` and `b` prove that the holder of `bls_key` double-signed; otherwise why not."""
    if a.validator != b.validator:
        return "the votes are by different validators"
    if (a.type, a.height, a.round) != (b.type, b.height, b.round):
        return "the votes are for different heights, rounds or steps"
    if a.block_id == b.block_id:
        return "the votes name the same block"
    for vote in (a, b):
        if vote.type not in ("prevote", "precommit"):
            return f"{vote.type!r} is not a vote type"
        message = vote_message(chain, vote.type, vote.height, vote.round, vote.block_id)
        if not bls.verify(bls_key, message, vote.signature):
            return "a vote's signature does not verify under the validator's key"
    return None
