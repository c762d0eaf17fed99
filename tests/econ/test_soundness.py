"""Soundness of the challenge: detection is exact, Q is minimal, collateral makes faking lose."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnet.chain.market import compute_required_collateral as chain_job_collateral
from nnet.chain.params import PARAMS, param_key
from nnet.chain.state import State
from nnet.econ.soundness import (
    DEFAULT_DETECTION_PPM,
    DEFAULT_FAKED_PPM,
    PPM,
    compute_detection,
    compute_detection_bound,
    compute_faked_segments,
    compute_required_collateral,
    compute_required_q,
    is_cheating_unprofitable,
)
from nnet.proof.challenge import compute_challenge


@st.composite
def n_q_m(draw: st.DrawFn, max_n: int = 2000) -> tuple[int, int, int]:
    n = draw(st.integers(1, max_n))
    return n, draw(st.integers(1, n)), draw(st.integers(1, n))


def brute_detection(n: int, q: int, m: int) -> Fraction:
    """Share of all q-subsets of range(n) that contain one of the faked segments 0..m-1."""
    subsets = list(combinations(range(n), q))
    return Fraction(sum(1 for s in subsets if min(s) < m), len(subsets))


def rule_holds(fee: int, collateral: int, n: int, q: int) -> bool:
    """The collateral rule checked for every m, without the closed form."""
    return all(
        compute_detection(n, q, m) * collateral >= Fraction(m, n) * fee for m in range(1, n + 1)
    )


# ---- compute_detection ---------------------------------------------------------------------


def test_detection_matches_brute_force_for_every_small_case() -> None:
    for n in range(1, 13):
        for q in range(1, n + 1):
            for m in range(n + 1):
                assert compute_detection(n, q, m) == brute_detection(n, q, m), (n, q, m)


def test_detection_edges() -> None:
    assert compute_detection(10, 0, 5) == 0
    assert compute_detection(10, 5, 0) == 0
    assert compute_detection(10, 10, 1) == 1
    assert compute_detection(10, 99, 1) == 1  # q past n is capped
    assert compute_detection(10, 1, 3) == Fraction(3, 10)
    assert compute_detection(10, 8, 3) == 1  # only 2 unchallenged: a faked one is always hit
    for bad in [(0, 1, 0), (5, -1, 1), (5, 1, 6), (5, 1, -1)]:
        with pytest.raises(ValueError):
            compute_detection(*bad)
    with pytest.raises(ValueError):
        compute_detection(5, True, 1)


@pytest.mark.parametrize(("n", "q", "m"), [(100, 5, 10), (1000, 43, 100), (50, 20, 2)])
def test_detection_matches_the_real_sampler(n: int, q: int, m: int) -> None:
    """Monte-Carlo with compute_challenge (what the chain draws): within 5 standard errors."""
    draws = 4000
    faked = set(range(0, n, n // m)[:m])  # spread over the run; any set of m is equivalent
    hits = sum(
        1 for i in range(draws) if faked.intersection(compute_challenge(i.to_bytes(8, "big"), n, q))
    )
    p = compute_detection(n, q, m)
    sigma = math.sqrt(float(p * (1 - p)) / draws)
    assert abs(hits / draws - float(p)) < 5 * sigma + 1e-9, (hits, float(p))


@settings(max_examples=200, deadline=None)
@given(n_q_m())
def test_detection_monotone_in_m_and_q_and_above_bounds(case: tuple[int, int, int]) -> None:
    n, q, m = case
    p = compute_detection(n, q, m)
    if m < n:
        assert compute_detection(n, q, m + 1) >= p
    if q < n:
        assert compute_detection(n, q + 1, m) >= p
    # the first draw alone hits with probability m / n: the fact the collateral rule rests on
    assert p >= Fraction(m, n)
    # drawing without replacement beats independent draws at any f <= m / n
    assert p >= compute_detection_bound(q, m * PPM // n)


def test_detection_bound_values() -> None:
    assert compute_detection_bound(44, 100_000) == 1 - Fraction(9, 10) ** 44
    assert compute_detection_bound(44, 100_000) >= Fraction(99, 100)
    assert compute_detection_bound(43, 100_000) < Fraction(99, 100)
    assert compute_detection_bound(0, 500_000) == 0
    assert compute_detection_bound(3, PPM) == 1


# ---- compute_required_q --------------------------------------------------------------------


def check_required_q(n: int, detection_ppm: int, faked_ppm: int, m_extra: int = 0) -> int:
    q = compute_required_q(n, detection_ppm, faked_ppm)
    m0 = compute_faked_segments(n, faked_ppm)
    target = Fraction(detection_ppm, PPM)
    assert 1 <= q <= n
    assert compute_detection(n, q, m0) >= target
    assert compute_detection(n, q, min(n, m0 + m_extra)) >= target  # every m >= m0 too
    if q > 1:
        assert compute_detection(n, q - 1, m0) < target  # minimal
    return q


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 2000),
    st.integers(0, PPM),
    st.integers(0, PPM),
    st.integers(0, 2000),
)
def test_required_q_is_the_least_that_meets_the_target(
    n: int, detection_ppm: int, faked_ppm: int, m_extra: int
) -> None:
    check_required_q(n, detection_ppm, faked_ppm, m_extra)


@settings(max_examples=50, deadline=None)
@given(st.integers(10**5, 2**20), st.integers(900_000, 999_999), st.integers(1, PPM))
def test_required_q_at_chain_sizes(n: int, detection_ppm: int, faked_ppm: int) -> None:
    check_required_q(n, detection_ppm, faked_ppm)


def test_required_q_default_table() -> None:
    """99 % at 10 % faked: Q = n up to n = 10 (one faked segment must be challenged), then it
    grows to the with-replacement 44 (reached from n = 1380 on) and never passes it."""
    expected = {10: 10, 44: 26, 100: 36, 440: 42, 1000: 43, 10**4: 44, 10**6: 44, 2**20: 44}
    assert {n: compute_required_q(n) for n in expected} == expected
    qs = [compute_required_q(n, DEFAULT_DETECTION_PPM, DEFAULT_FAKED_PPM) for n in range(1, 3001)]
    assert qs[:10] == list(range(1, 11))
    assert all(q < n for n, q in enumerate(qs, 1) if n > 10)
    assert max(qs) == 44 and qs[1380 - 1] == 44 and qs[1379 - 1] < 44


def test_required_q_extremes() -> None:
    assert compute_required_q(1000, 0, 100_000) == 1
    assert compute_required_q(1000, PPM, 100_000) == 901  # certainty: 900 unchallenged at most
    assert compute_required_q(1000, PPM, 0) == 1000  # one faked segment, certainty: all of them
    assert compute_required_q(1000, 990_000, PPM) == 1  # everything faked: any draw hits
    for bad in [(0, 1, 1), (10, PPM + 1, 1), (10, 1, -1)]:
        with pytest.raises(ValueError):
            compute_required_q(*bad)


# ---- collateral ----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(n_q_m(max_n=60), st.integers(1, 10**30))
def test_required_collateral_is_the_least_that_covers_every_m(
    case: tuple[int, int, int], fee: int
) -> None:
    n, q, _ = case
    c = compute_required_collateral(fee, n, q)
    assert rule_holds(fee, c, n, q)
    assert not rule_holds(fee, c - 1, n, q)


@settings(max_examples=300, deadline=None)
@given(n_q_m(), st.integers(1, 10**30))
def test_required_collateral_covers_any_m_at_larger_n(case: tuple[int, int, int], fee: int) -> None:
    n, q, m = case
    c = compute_required_collateral(fee, n, q)
    assert compute_detection(n, q, m) * c >= Fraction(m, n) * fee
    assert compute_detection(n, q, n) * (c - 1) < fee  # minimal: everything faked is the worst


@settings(max_examples=300, deadline=None)
@given(n_q_m(max_n=40), st.integers(0, 10**30), st.integers(-3, 3))
def test_is_cheating_unprofitable_agrees_with_the_rule(
    case: tuple[int, int, int], fee: int, delta: int
) -> None:
    n, q, _ = case
    collateral = max(0, fee + delta)
    assert is_cheating_unprofitable(fee, collateral, n, q) == rule_holds(fee, collateral, n, q)


@settings(max_examples=300, deadline=None)
@given(
    n_q_m(),
    st.integers(1, 10**30),
    st.fractions(min_value=0, max_value=10, max_denominator=1000),
)
def test_faking_loses_in_expectation(
    case: tuple[int, int, int], fee: int, cost_ratio: Fraction
) -> None:
    """The module docstring's argument: with C = required collateral, faking m segments earns
    less than the better of honest work and not taking the job, whatever the compute cost."""
    n, q, m = case
    cost = fee * cost_ratio
    c = compute_required_collateral(fee, n, q)
    p, f = compute_detection(n, q, m), Fraction(m, n)
    fake = (1 - p) * fee - p * c - (1 - f) * cost
    assert fake < max(fee - cost, Fraction(0))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**30), n_q_m())
def test_chain_defaults_make_cheating_unprofitable_for_any_fee(
    fee: int, case: tuple[int, int, int]
) -> None:
    """market_job_collateral_ppm, market_min_job_collateral and market_slash_ppm at their
    defaults (an empty state reads every parameter's default from the table)."""
    n, q, _ = case
    lost = chain_job_collateral(State(), fee) * PARAMS["market_slash_ppm"].default // PPM
    assert is_cheating_unprofitable(fee, lost, n, q)


def test_collateral_below_the_fee_lets_a_large_job_cheat() -> None:
    """The check can fail: a governance vote for collateral of 99.9999 % of the fee is unsafe."""
    state = State({param_key("market_job_collateral_ppm"): PPM - 1})
    fee = 10**30  # far above market_min_job_collateral
    assert not is_cheating_unprofitable(fee, chain_job_collateral(state, fee), 1000, 43)
    for bad in [(-1, 0, 5, 1), (1, -1, 5, 1), (1, 1, 0, 1), (1, 1, 5, 0)]:
        with pytest.raises(ValueError):
            is_cheating_unprofitable(*bad)
