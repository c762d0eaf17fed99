"""The emission schedule: where an epoch's rewards come from, and every cap on them.

Rewards due (from Y and R_gpu) are funded in this order, each step bounded:

1. fees collected this epoch: passed to stakers and nodes (staking_share of them to stakers), and
   they count toward what is due. As fees grow, the protocol funds less: the shift toward fees.
   Fees above what is due are still paid out (they are users' payments, not issuance).
2. the genesis reward pools (staking_rewards for stakers, gpu_rewards for nodes), each paying at
   most pool_release_rate of its balance a year and never more than it holds.
3. minting, at most the current inflation rate times supply per epoch, never past max_supply.

Pools + minting together stay under max_emission_rate * supply per epoch. What none of these can
fund is not paid (reported as the shortfall). The inflation rate itself moves smoothly toward
target_inflation * d (clamped to [inflation_min, inflation_max]) by at most inflation_rate_change
a year, as Cosmos x/mint moves toward its bonded goal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from nnet.econ.fixedpoint import PPB, clamp, floor_fraction, fraction_to_ppb
from nnet.econ.params import EconParams
from nnet.econ.pools import GPU_POOL, STAKING_POOL

__all__ = [
    "Funding",
    "compute_emission_room",
    "compute_fee_split",
    "compute_funding",
    "compute_mint_room",
    "compute_next_inflation",
    "compute_pool_release",
]


@dataclass(frozen=True)
class Funding:
    """Where each side's reward came from this epoch, in base units."""

    fees_to_staking: int
    fees_to_gpu: int
    fees_to_treasury: int
    pool_to_staking: int
    pool_to_gpu: int
    minted_to_staking: int
    minted_to_gpu: int
    shortfall: int  # due but unfunded (caps or empty pools)

    @property
    def staking_total(self) -> int:
        return self.fees_to_staking + self.pool_to_staking + self.minted_to_staking

    @property
    def gpu_total(self) -> int:
        return self.fees_to_gpu + self.pool_to_gpu + self.minted_to_gpu

    @property
    def minted(self) -> int:
        return self.minted_to_staking + self.minted_to_gpu


def compute_next_inflation(params: EconParams, inflation_ppb: int, d: Fraction) -> int:
    """Move the minting rate (parts per billion per year) one epoch toward its demand goal."""
    low, high = fraction_to_ppb(params.inflation_min), fraction_to_ppb(params.inflation_max)
    goal = fraction_to_ppb(
        clamp(params.target_inflation * d, params.inflation_min, params.inflation_max)
    )
    step = fraction_to_ppb(params.inflation_rate_change / params.epochs_per_year)
    moved = inflation_ppb + max(-step, min(step, goal - inflation_ppb))
    return max(low, min(high, moved))


def compute_emission_room(params: EconParams, T_s: int) -> int:
    """Per-epoch cap on pool payouts plus minting."""
    return floor_fraction(T_s * params.max_emission_rate / params.epochs_per_year)


def compute_mint_room(params: EconParams, T_s: int, inflation_ppb: int) -> int:
    """Most that may be minted this epoch: the inflation rate's share, and never past max_supply."""
    by_rate = T_s * inflation_ppb // (PPB * params.epochs_per_year)
    return max(0, min(by_rate, params.max_supply - T_s))


def compute_pool_release(params: EconParams, balance: int) -> int:
    """Most a genesis reward pool may pay this epoch."""
    return min(balance, floor_fraction(balance * params.pool_release_rate / params.epochs_per_year))


def compute_fee_split(
    params: EconParams, fees: int, has_stake: bool, has_compute: bool
) -> tuple[int, int, int]:
    """(to stakers, to nodes, to treasury): staking_share to stakers when both sides exist, all to
    the side that exists otherwise, and to the treasury when nobody staked or worked."""
    if has_stake and has_compute:
        to_staking = floor_fraction(fees * params.staking_share)
        return to_staking, fees - to_staking, 0
    if has_stake:
        return fees, 0, 0
    if has_compute:
        return 0, fees, 0
    return 0, 0, fees


def compute_funding(
    params: EconParams,
    *,
    staking_due: int,
    gpu_due: int,
    fees: int,
    has_stake: bool,
    has_compute: bool,
    pools: Mapping[str, int],
    T_s: int,
    inflation_ppb: int,
) -> Funding:
    """Fund what is due from fees, then the reward pools, then minting (see the module doc)."""
    fee_s, fee_g, fee_t = compute_fee_split(params, fees, has_stake, has_compute)
    need_s = max(0, staking_due - fee_s)
    need_g = max(0, gpu_due - fee_g)

    pool_s = min(need_s, compute_pool_release(params, pools[STAKING_POOL]))
    pool_g = min(need_g, compute_pool_release(params, pools[GPU_POOL]))
    room = compute_emission_room(params, T_s)
    if pool_s + pool_g > room:
        scaled_s = pool_s * room // (pool_s + pool_g)
        pool_s, pool_g = scaled_s, min(pool_g, room - scaled_s)

    rest_s, rest_g = need_s - pool_s, need_g - pool_g
    mint = min(
        rest_s + rest_g, compute_mint_room(params, T_s, inflation_ppb), room - pool_s - pool_g
    )
    # mint_s = floor(mint * rest_s / rest) <= rest_s, and mint - mint_s = ceil(mint * rest_g / rest)
    # <= rest_g because mint <= rest: neither side gets more than it needs
    mint_s = mint * rest_s // (rest_s + rest_g) if mint else 0
    mint_g = mint - mint_s
    return Funding(
        fees_to_staking=fee_s,
        fees_to_gpu=fee_g,
        fees_to_treasury=fee_t,
        pool_to_staking=pool_s,
        pool_to_gpu=pool_g,
        minted_to_staking=mint_s,
        minted_to_gpu=mint_g,
        shortfall=rest_s - mint_s + rest_g - mint_g,
    )
