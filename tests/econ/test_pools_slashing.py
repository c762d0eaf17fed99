"""Genesis pools and the slashing split: every base unit lands in exactly one place."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnet.econ.params import EconParams
from nnet.econ.pools import GENESIS_SHARES, POOL_NAMES, compute_genesis_pools, validate_pools
from nnet.econ.slashing import compute_slash
from nnet.encoding import UNIT
from nnet.errors import MalformedInput

from .strategies import any_params


def test_genesis_pools_follow_the_whitepaper() -> None:
    pools = compute_genesis_pools(10**9 * UNIT)
    assert POOL_NAMES == ("staking_rewards", "gpu_rewards", "public", "team", "treasury", "reserve")
    assert [pools[n] // (10**7 * UNIT) for n in POOL_NAMES] == [20, 30, 20, 15, 10, 5]
    assert sum(GENESIS_SHARES.values()) == 1


@given(st.integers(0, 10**40))
def test_genesis_pools_sum_exactly(supply: int) -> None:
    pools = compute_genesis_pools(supply)
    assert sum(pools.values()) == supply and min(pools.values()) >= 0
    validate_pools(pools)


def test_pool_validation() -> None:
    with pytest.raises(MalformedInput, match="unknown"):
        validate_pools({**compute_genesis_pools(10), "extra": 1})
    with pytest.raises(MalformedInput, match="non-negative"):
        validate_pools({**compute_genesis_pools(10), "team": -1})


def test_slash_default_split() -> None:
    out = compute_slash(EconParams(), 1000 * UNIT, ["0xA", "0xB"])
    assert out.slashed == 50 * UNIT  # 5 %
    assert out.to_verifiers == {"0xA": 25 * UNIT // 2, "0xB": 25 * UNIT // 2}
    assert out.burned == 25 * UNIT // 2 and out.to_treasury == 25 * UNIT // 2
    assert out.collateral_left == 950 * UNIT


@given(
    any_params(),
    st.integers(0, 10**36),
    st.lists(st.text(min_size=1, max_size=4), unique=True, max_size=7),
)
def test_slash_conserves_every_unit(
    params: EconParams, collateral: int, verifiers: list[str]
) -> None:
    out = compute_slash(params, collateral, verifiers)
    assert out.slashed + out.collateral_left == collateral
    assert sum(out.to_verifiers.values()) + out.burned + out.to_treasury == out.slashed
    assert min([out.burned, out.to_treasury, *out.to_verifiers.values()]) >= 0


def test_slash_refuses_bad_input() -> None:
    with pytest.raises(MalformedInput):
        compute_slash(EconParams(), -1, [])
    with pytest.raises(MalformedInput):
        compute_slash(EconParams(), 10, ["a", "a"])
