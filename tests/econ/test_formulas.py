"""The whitepaper's claims about Y and R_gpu, as property tests.

Each claim is checked non-strictly over wide inputs (the caps max_work_index and max_apy, and
floors at zero, make a curve flat where they bind), and strictly wherever no cap binds.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nnet.econ.epoch import process_epoch_economics
from nnet.econ.formulas import (
    compute_indices,
    compute_max_reward_pool,
    compute_R_gpu,
    compute_Y,
    get_T_g,
    get_T_r,
)
from nnet.econ.params import EconParams
from nnet.encoding import UNIT

from .strategies import any_params
from .test_epoch import reference_inputs

PARAMS = EconParams()
SUPPLY = 10**9 * UNIT
pos = st.integers(1, 10**30)


def model(
    params: EconParams, D_ai: int, C_g: int, N_n: int, S_t: int, T_s: int
) -> tuple[Fraction, Fraction, bool]:
    """(Y, R_gpu per node, whether a cap binds) with C_g the verified work of each node."""
    idx = compute_indices(params, D_ai, C_g * N_n, N_n, S_t, T_s)
    pool = compute_max_reward_pool(params, 0)
    Y = compute_Y(params, get_T_r(params, pool), S_t, idx.w)
    R = compute_R_gpu(params, get_T_g(params, pool), idx.w, S_t, T_s)
    capped = idx.w == params.max_work_index or params.max_apy == Y
    return Y, R, capped


state = st.tuples(
    st.integers(0, 10**28),  # D_ai per epoch
    st.integers(0, 10**9),  # C_g per node per epoch
    st.integers(1, 10**5),  # N_n
    st.integers(0, SUPPLY),  # S_t
)


@settings(max_examples=300, deadline=None)
@given(state, pos)
def test_more_demand_raises_yield_and_gpu_reward(s: tuple[int, int, int, int], more: int) -> None:
    D, C, N, S = s
    Y0, R0, _ = model(PARAMS, D, C, N, S, SUPPLY)
    Y1, R1, capped = model(PARAMS, D + more, C, N, S, SUPPLY)
    assert Y1 >= Y0 and R1 >= R0
    if not capped and C and S:
        assert Y1 > Y0 and R1 > R0


@settings(max_examples=300, deadline=None)
@given(state, pos)
def test_more_gpu_power_raises_yield_and_gpu_reward(
    s: tuple[int, int, int, int], more: int
) -> None:
    D, C, N, S = s
    Y0, R0, _ = model(PARAMS, D, C, N, S, SUPPLY)
    Y1, R1, capped = model(PARAMS, D, C + more, N, S, SUPPLY)
    assert Y1 >= Y0 and R1 >= R0
    if not capped and D and S:
        assert Y1 > Y0 and R1 > R0


@settings(max_examples=300, deadline=None)
@given(state, st.integers(1, 10**5))
def test_more_nodes_lower_reward_per_node(s: tuple[int, int, int, int], more: int) -> None:
    D, C, N, S = s
    Y0, R0, capped0 = model(PARAMS, D, C, N, S, SUPPLY)
    Y1, R1, _ = model(PARAMS, D, C, N + more, S, SUPPLY)
    assert R1 <= R0 and Y1 <= Y0  # the whitepaper: competition dilutes both
    if not capped0 and D and C and S:
        assert R1 < R0


@settings(max_examples=300, deadline=None)
@given(state, pos)
def test_more_stake_lowers_yield_and_raises_gpu_reward(
    s: tuple[int, int, int, int], more: int
) -> None:
    D, C, N, S = s
    assume(S + more <= SUPPLY)
    Y0, R0, capped0 = model(PARAMS, D, C, N, S, SUPPLY)
    Y1, R1, capped1 = model(PARAMS, D, C, N, S + more, SUPPLY)
    assert Y1 <= Y0 and R1 >= R0
    if D and C and S and not (capped0 or capped1):
        assert Y1 < Y0 and R1 > R0


@settings(max_examples=300, deadline=None)
@given(state, pos)
def test_larger_supply_lowers_gpu_reward(s: tuple[int, int, int, int], more: int) -> None:
    D, C, N, S = s
    _, R0, _ = model(PARAMS, D, C, N, S, SUPPLY)
    _, R1, _ = model(PARAMS, D, C, N, S, SUPPLY + more)
    assert R1 <= R0
    if D and C and S:
        assert R1 < R0  # the work-index cap does not involve supply, so this is strict


@settings(max_examples=60, deadline=None)
@given(any_params(), st.integers(0, 10**6), st.integers(1, 10**6))
def test_claims_hold_under_any_governance_params(params: EconParams, D: int, more: int) -> None:
    """Non-strict monotonicity in demand and nodes for any parameter set within bounds."""
    Y0, R0, _ = model(params, D, 10**6, 10, SUPPLY // 2, SUPPLY)
    Y1, R1, _ = model(params, D + more, 10**6, 10, SUPPLY // 2, SUPPLY)
    Y2, R2, _ = model(params, D, 10**6, 10 + more, SUPPLY // 2, SUPPLY)
    assert Y1 >= Y0 and R1 >= R0 and R2 <= R0 and Y2 <= Y0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**24), st.integers(1, 10**24))
def test_epoch_due_amounts_follow_demand(demand: int, more: int) -> None:
    """The claims carry through to what the epoch actually owes (floored: non-strict)."""
    lo = process_epoch_economics(PARAMS, reference_inputs(PARAMS, demand=demand))
    hi = process_epoch_economics(PARAMS, reference_inputs(PARAMS, demand=demand + more))
    assert hi.staking_due >= lo.staking_due and hi.gpu_due >= lo.gpu_due


def test_max_reward_pool_shrinks_every_epoch_and_by_the_decay_each_year() -> None:
    p = EconParams(epochs_per_year=12)
    values = [compute_max_reward_pool(p, e) for e in range(0, 12 * 30)]
    assert all(b < a for a, b in itertools.pairwise(values) if a)
    assert values[0] == p.max_reward_pool
    assert values[12] == p.max_reward_pool * 9 // 10
    assert abs(values[24] - p.max_reward_pool * 81 // 100) <= 1
    # far in the future the ceiling reaches zero instead of taking forever to compute
    assert compute_max_reward_pool(p, 10**15) == 0


def test_no_decay_keeps_the_ceiling() -> None:
    p = EconParams(reward_pool_decay=Fraction(0))
    assert compute_max_reward_pool(p, 10**12) == p.max_reward_pool
