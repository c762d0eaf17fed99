"""The simulator starts from the chain's genesis, to the base unit: one pool table
(econ/pools.py), one rounding rule (dust to `reserve`), used by chain/genesis.py and
econ/simulate.py alike."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nnet.chain.accounts import POOLS
from nnet.chain.genesis import DEVNET_SUPPLY, make_devnet_genesis
from nnet.econ.pools import GENESIS_PERCENT, GENESIS_SHARES, RESERVE_POOL, compute_genesis_pools
from nnet.econ.simulate import compute_genesis_allocation

SEQUENCER = "0x8ba1f109551bD432803012645Ac136ddd64DBA72"


def _chain_pools(supply: int) -> dict[str, int]:
    return make_devnet_genesis("nnet-test", SEQUENCER, time_ms=0, supply=supply).pools


@given(st.integers(0, 10**36))
def test_the_simulator_genesis_equals_the_chain_genesis(supply: int) -> None:
    chain = _chain_pools(supply)
    pools, circulating = compute_genesis_allocation(supply)
    # the simulator moves the whole public allocation out to balances; all else is the chain's
    assert pools == {**chain, "public": 0}
    assert circulating == chain["public"]
    assert sum(pools.values()) + circulating == supply


def test_rounding_dust_goes_to_the_reserve() -> None:
    supply = 10**9 * 10**18 + 99  # 99 units of dust: 0.99 % cannot be split by whole percents
    pools = compute_genesis_pools(supply)
    floors = {name: supply * pct // 100 for name, pct in GENESIS_PERCENT.items()}
    assert pools[RESERVE_POOL] == floors[RESERVE_POOL] + supply - sum(floors.values())
    assert {k: v for k, v in pools.items() if k != RESERVE_POOL} == {
        k: v for k, v in floors.items() if k != RESERVE_POOL
    }
    assert _chain_pools(supply) == pools


def test_one_table() -> None:
    assert POOLS is GENESIS_PERCENT and sum(GENESIS_PERCENT.values()) == 100
    assert {k: v * 100 for k, v in GENESIS_SHARES.items()} == GENESIS_PERCENT
    assert sum(_chain_pools(DEVNET_SUPPLY).values()) == DEVNET_SUPPLY
