"""The slashing split: what a node whose proof was rejected loses, and where it goes.

slashed = floor(collateral * slash_fraction); the verifiers who caught it share
floor(slashed * slash_verifier_share) equally (the indivisible remainder goes to the first in the
given order, which the chain fixes, e.g. by attestation order); of the rest,
floor(rest * slash_burn_share) is burned and the remainder goes to the treasury pool.
Every base unit of `slashed` lands in exactly one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nnet.econ.fixedpoint import floor_fraction
from nnet.econ.params import EconParams
from nnet.errors import MalformedInput

__all__ = ["SlashOutcome", "compute_slash"]


@dataclass(frozen=True)
class SlashOutcome:
    slashed: int
    collateral_left: int
    to_verifiers: dict[str, int]
    burned: int
    to_treasury: int


def compute_slash(params: EconParams, collateral: int, verifiers: Sequence[str]) -> SlashOutcome:
    """Split the slash of a node with `collateral` between `verifiers`, the burn and the treasury.
    With no verifiers their share goes the way of the rest (burn / treasury)."""
    if isinstance(collateral, bool) or not isinstance(collateral, int) or collateral < 0:
        raise MalformedInput(f"collateral must be a non-negative integer, got {collateral!r}")
    if len(set(verifiers)) != len(verifiers):
        raise MalformedInput("each verifier may be named once")
    slashed = floor_fraction(collateral * params.slash_fraction)
    to_verifiers: dict[str, int] = {}
    if verifiers:
        verifier_total = floor_fraction(slashed * params.slash_verifier_share)
        each, remainder = divmod(verifier_total, len(verifiers))
        to_verifiers = {v: each for v in verifiers}
        to_verifiers[verifiers[0]] += remainder
    rest = slashed - sum(to_verifiers.values())
    burned = floor_fraction(rest * params.slash_burn_share)
    return SlashOutcome(
        slashed=slashed,
        collateral_left=collateral - slashed,
        to_verifiers=to_verifiers,
        burned=burned,
        to_treasury=rest - burned,
    )
