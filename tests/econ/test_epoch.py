"""Epoch-end economics: invariants over random and extreme inputs, defined zero cases, bad input."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnet.econ.emission import compute_emission_room, compute_pool_release
from nnet.econ.epoch import EpochInputs, process_epoch_economics
from nnet.econ.params import EconParams
from nnet.econ.pools import GPU_POOL, STAKING_POOL, TREASURY_POOL, compute_genesis_pools
from nnet.econ.rewards import ACC_SCALE, RewardAccumulator
from nnet.encoding import UNIT
from nnet.errors import MalformedInput

from .strategies import GENESIS, any_epoch_inputs, any_params, default_inflation


def reference_inputs(params: EconParams, **changes: Any) -> EpochInputs:
    """A chain at its reference point: demand at target, 100 reference nodes, 67 % staked."""
    pools = compute_genesis_pools(GENESIS)
    pools["public"] = 0
    base = EpochInputs(
        epoch=0,
        demand=params.demand_target // params.epochs_per_year,
        compute_by_node={f"n{i}": params.compute_ref // params.epochs_per_year for i in range(100)},
        active_nodes=100,
        total_staked=GENESIS * 67 // 100,
        total_supply=GENESIS,
        pools=pools,
        fees_collected=10 * UNIT,
        inflation_ppb=default_inflation(params),
        accumulator=RewardAccumulator(),
    )
    return replace(base, **changes)


def check_invariants(params: EconParams, inp: EpochInputs) -> None:
    out = process_epoch_economics(params, inp)
    f = out.funding
    # no pool goes negative, and none pays more than it holds or may release
    assert all(v >= 0 for v in out.pools.values())
    for pool in (STAKING_POOL, GPU_POOL):
        paid = inp.pools[pool] - out.pools[pool]
        assert 0 <= paid <= compute_pool_release(params, inp.pools[pool]) <= inp.pools[pool]
    # supply never passes its cap through minting
    assert out.total_supply == inp.total_supply + out.minted
    assert out.minted == 0 or out.total_supply <= params.max_supply
    # pools + minting within the per-epoch emission cap
    assert f.pool_to_staking + f.pool_to_gpu + out.minted <= compute_emission_room(
        params, inp.total_supply
    )
    # conservation, to the base unit: what left pools/fees/minting is exactly what was credited
    before = sum(inp.pools.values()) + inp.fees_collected + out.minted
    after = sum(out.pools.values()) + out.staking_reward + out.gpu_reward
    assert before == after
    assert out.gpu_reward == sum(out.gpu_reward_by_node.values())
    assert set(out.gpu_reward_by_node) <= set(inp.compute_by_node)
    assert out.pools[TREASURY_POOL] - inp.pools[TREASURY_POOL] == f.fees_to_treasury + out.gpu_dust
    # the protocol never funds more than is due; fees pass through on top
    assert f.pool_to_staking + f.minted_to_staking <= max(0, out.staking_due - f.fees_to_staking)
    assert f.pool_to_gpu + f.minted_to_gpu <= max(0, out.gpu_due - f.fees_to_gpu)
    assert params.max_apy >= out.Y and out.indices.w <= params.max_work_index
    # the accumulator took exactly the staking reward (scaled), nothing more or less
    acc0, acc1 = inp.accumulator, out.accumulator
    if inp.total_staked:
        credited = (acc1.reward_per_stake - acc0.reward_per_stake) * inp.total_staked + acc1.carry
        assert credited == out.staking_reward * ACC_SCALE + acc0.carry
    else:
        assert out.staking_reward == 0 and acc1 == acc0
    assert 0 <= out.inflation_ppb <= 10**9


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(any_params(), any_epoch_inputs())
def test_invariants_over_any_params_and_inputs(params: EconParams, inp: EpochInputs) -> None:
    check_invariants(params, inp)


@settings(max_examples=150, deadline=None)
@given(any_epoch_inputs(max_supply=2 * 1_500_000_000 * UNIT))
def test_invariants_with_default_params_near_the_supply_cap(inp: EpochInputs) -> None:
    check_invariants(EconParams(), inp)


def test_reference_point_pays_the_reference_rewards() -> None:
    params = EconParams(pool_release_rate=EconParams().pool_release_rate)
    inp = reference_inputs(params, fees_collected=0)
    out = process_epoch_economics(params, inp)
    # d = c = n = 1 (up to the integer division of the per-epoch inputs)
    assert abs(out.indices.w - 1) < 1e-6
    yearly_pool = params.max_reward_pool
    per_epoch = yearly_pool / params.epochs_per_year
    assert out.staking_reward == pytest.approx(per_epoch * 0.4, rel=1e-6)
    assert out.gpu_reward == pytest.approx(per_epoch * 0.6, rel=1e-6)
    # at genesis the reward pools cover it all: nothing minted, nothing short
    assert out.minted == 0 and out.funding.shortfall == 0


def test_zero_demand_pays_no_protocol_reward_but_passes_fees() -> None:
    params = EconParams()
    out = process_epoch_economics(params, reference_inputs(params, demand=0))
    assert out.indices.d == 0 and out.Y == 0 and out.R_gpu == 0
    assert out.minted == 0 and sum(out.paid_from_pools.values()) == 0
    assert out.staking_reward + out.gpu_reward + out.gpu_dust == 10 * UNIT  # the fees, nothing else


def test_zero_nodes_pays_nodes_nothing_and_stakers_nothing_from_protocol() -> None:
    params = EconParams()
    out = process_epoch_economics(
        params, reference_inputs(params, compute_by_node={}, active_nodes=0)
    )
    assert out.indices.w == 0 and out.gpu_reward == 0 and out.gpu_reward_by_node == {}
    assert out.staking_reward == 10 * UNIT  # only the fees, all to stakers


def test_zero_stake_pays_stakers_nothing_and_keeps_the_accumulator() -> None:
    params = EconParams()
    inp = reference_inputs(params, total_staked=0)
    out = process_epoch_economics(params, inp)
    assert out.staking_reward == 0 and out.accumulator == inp.accumulator
    assert out.R_gpu == 0 and out.gpu_reward == 10 * UNIT - out.gpu_dust  # fees only


def test_nobody_to_pay_sends_fees_to_treasury() -> None:
    params = EconParams()
    inp = reference_inputs(params, total_staked=0, compute_by_node={}, active_nodes=0)
    out = process_epoch_economics(params, inp)
    assert out.pools[TREASURY_POOL] == inp.pools[TREASURY_POOL] + 10 * UNIT


def test_supply_at_cap_mints_nothing_and_empty_pools_leave_a_shortfall() -> None:
    params = EconParams()
    pools = dict.fromkeys(compute_genesis_pools(0), 0)
    out = process_epoch_economics(
        params,
        reference_inputs(
            params,
            total_supply=params.max_supply,
            pools=pools,
            fees_collected=0,
            total_staked=params.max_supply // 2,
        ),
    )
    assert out.minted == 0 and out.total_supply == params.max_supply
    assert out.staking_reward == 0 and out.gpu_reward == 0
    assert out.funding.shortfall == out.staking_due + out.gpu_due > 0


def test_gpu_reward_split_follows_verified_work() -> None:
    params = EconParams()
    out = process_epoch_economics(
        params,
        reference_inputs(params, compute_by_node={"a": 3, "b": 1, "idle": 0}, active_nodes=3),
    )
    assert "idle" not in out.gpu_reward_by_node
    assert abs(out.gpu_reward_by_node["a"] - 3 * out.gpu_reward_by_node["b"]) <= 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"total_staked": GENESIS + 1}, "staked exceeds"),
        ({"demand": -1}, "demand"),
        ({"active_nodes": 1}, "only 1 are counted active"),
        ({"compute_by_node": {"a": -5}}, "verified work"),
        ({"pools": {"staking_rewards": 1}}, "pools must be exactly"),
        ({"fees_collected": GENESIS}, "exceed total supply"),
        ({"inflation_ppb": 10**9 + 1}, "100 %"),
        ({"demand": 1.5}, "demand"),
    ],
)
def test_bad_inputs_are_refused(changes: dict[str, Any], message: str) -> None:
    params = EconParams()
    with pytest.raises(MalformedInput, match=message):
        process_epoch_economics(params, reference_inputs(params, **changes))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 200), st.data())
def test_many_epochs_conserve_tokens_and_respect_the_cap(
    years_x10: int, data: st.DataObject
) -> None:
    """Chain state through random epochs: circulating + pools + unclaimed rewards stays equal to
    genesis + minted, and supply stays under the cap, with tight defaults to make caps bind."""
    params = EconParams(epochs_per_year=12, max_supply=GENESIS + GENESIS // 50)
    pools = compute_genesis_pools(GENESIS)
    circulating, pools["public"] = pools["public"], 0
    supply, minted, escrow = GENESIS, 0, 0
    acc, inflation = RewardAccumulator(), default_inflation(params)
    for epoch in range(years_x10, years_x10 + 30):
        fees = data.draw(st.integers(0, circulating // 100))
        circulating -= fees
        out = process_epoch_economics(
            params,
            EpochInputs(
                epoch=epoch,
                demand=data.draw(st.integers(0, params.demand_target)),
                compute_by_node={"a": data.draw(st.integers(0, 10**9)), "b": 10**8},
                active_nodes=data.draw(st.integers(2, 500)),
                total_staked=data.draw(st.integers(0, supply)),
                total_supply=supply,
                pools=pools,
                fees_collected=fees,
                inflation_ppb=inflation,
                accumulator=acc,
            ),
        )
        pools, supply, acc, inflation = (
            out.pools,
            out.total_supply,
            out.accumulator,
            out.inflation_ppb,
        )
        minted += out.minted
        escrow += out.staking_reward
        circulating += out.gpu_reward
        assert circulating + sum(pools.values()) + escrow == GENESIS + minted
        assert supply <= params.max_supply
