"""The six genesis pools (whitepaper section 4) and the checks every pool balance update passes.

Pool keys are the ones the chain stores. At genesis the whole supply sits in these pools; the
chain's genesis then moves the `public` allocation (and any funded accounts) out to balances.
GENESIS_PERCENT is the one pool table: the chain's genesis (chain/genesis.py) and the simulator
(econ/simulate.py) both split a supply with `compute_genesis_pools`, so they agree to the unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from nnet.errors import MalformedInput

__all__ = [
    "GENESIS_PERCENT",
    "GENESIS_SHARES",
    "GPU_POOL",
    "POOL_NAMES",
    "PUBLIC_POOL",
    "RESERVE_POOL",
    "STAKING_POOL",
    "TREASURY_POOL",
    "compute_genesis_pools",
    "validate_pools",
]

STAKING_POOL = "staking_rewards"
GPU_POOL = "gpu_rewards"
TREASURY_POOL = "treasury"
RESERVE_POOL = "reserve"
PUBLIC_POOL = "public"

# whitepaper: staking 20 %, GPU operators 30 %, public/market 20 %, team & dev 15 %,
# ecosystem/treasury 10 %, reserve/strategic 5 %
GENESIS_PERCENT: dict[str, int] = {
    STAKING_POOL: 20,
    GPU_POOL: 30,
    PUBLIC_POOL: 20,
    "team": 15,
    TREASURY_POOL: 10,
    RESERVE_POOL: 5,
}
GENESIS_SHARES: dict[str, Fraction] = {
    name: Fraction(pct, 100) for name, pct in GENESIS_PERCENT.items()
}
POOL_NAMES: tuple[str, ...] = tuple(GENESIS_PERCENT)


def compute_genesis_pools(genesis_supply: int) -> dict[str, int]:
    """Split the genesis supply into the six pools, exactly: each gets the floor of its share
    and the rounding remainder (under 6 base units) goes to `reserve`, so the sum is exact.
    The chain's genesis uses this very split; a recorded chain fixes it, so it must not change."""
    if isinstance(genesis_supply, bool) or not isinstance(genesis_supply, int):
        raise MalformedInput("genesis supply must be an integer number of base units")
    if genesis_supply < 0:
        raise MalformedInput("genesis supply must be >= 0")
    pools = {name: genesis_supply * pct // 100 for name, pct in GENESIS_PERCENT.items()}
    pools[RESERVE_POOL] += genesis_supply - sum(pools.values())
    return pools


def validate_pools(pools: Mapping[str, int]) -> None:
    """Exactly the six pool keys, each a non-negative integer."""
    if set(pools) != set(POOL_NAMES):
        missing = sorted(set(POOL_NAMES) - set(pools))
        extra = sorted(set(pools) - set(POOL_NAMES))
        raise MalformedInput(
            f"pools must be exactly {list(POOL_NAMES)}; missing {missing}, unknown {extra}"
        )
    for name, value in pools.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MalformedInput(f"pool {name} must be a non-negative integer, got {value!r}")
