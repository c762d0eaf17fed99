"""The F1-style accumulator: exact, O(1), a claim pays the accrued amount exactly once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnet.econ.rewards import (
    ACC_SCALE,
    RewardAccumulator,
    StakePosition,
    get_pending_reward,
    process_accrual,
    process_claim,
    process_stake_change,
)
from nnet.errors import MalformedInput


def test_two_stakers_share_in_proportion_and_claim_once() -> None:
    acc = process_accrual(RewardAccumulator(), total_reward=900, total_stake=300)
    alice, bob = StakePosition(100, 0), StakePosition(200, 0)
    assert get_pending_reward(acc, alice) == 300
    paid, alice = process_claim(acc, alice)
    assert paid == 300
    assert process_claim(acc, alice)[0] == 0  # the same reward is never paid twice
    assert process_claim(acc, bob)[0] == 600


def test_method_helpers_match_the_functions() -> None:
    acc = RewardAccumulator().accrue(900, 300)
    assert acc == process_accrual(RewardAccumulator(), 900, 300)
    assert acc.pending(100, 0) == 300
    paid, snapshot = acc.claim(100, 0)
    assert (paid, snapshot) == (300, acc.reward_per_stake)
    assert acc.claim(100, snapshot) == (0, snapshot)


def test_remainder_is_carried_not_lost() -> None:
    stake = 7 * ACC_SCALE  # so large that one base unit is less than one scaled step per stake
    acc = RewardAccumulator()
    for _ in range(6):
        acc = process_accrual(acc, total_reward=1, total_stake=stake)
    assert get_pending_reward(acc, StakePosition(stake, 0)) == 0  # not yet a whole step
    acc = process_accrual(acc, total_reward=1, total_stake=stake)
    # seven single units were given; the carry makes them all claimable
    assert get_pending_reward(acc, StakePosition(stake, 0)) == 7


def test_zero_stake_accrues_nothing_and_refuses_a_reward() -> None:
    acc = RewardAccumulator(5, 7)
    assert process_accrual(acc, 0, 0) == acc
    with pytest.raises(MalformedInput):
        process_accrual(acc, 1, 0)


def test_stake_change_settles_at_the_old_stake() -> None:
    acc = process_accrual(RewardAccumulator(), 100, 100)
    paid, pos = process_stake_change(acc, StakePosition(100, 0), 50)
    assert paid == 100 and pos == StakePosition(50, acc.reward_per_stake)
    acc = process_accrual(acc, 100, 50)
    assert get_pending_reward(acc, pos) == 100


def test_bad_state_is_refused() -> None:
    with pytest.raises(MalformedInput):
        get_pending_reward(RewardAccumulator(1, 0), StakePosition(1, 2))
    with pytest.raises(MalformedInput):
        process_accrual(RewardAccumulator(), -1, 10)
    with pytest.raises(MalformedInput):
        RewardAccumulator.from_dict({"reward_per_stake": "x", "carry": "0"})
    acc = RewardAccumulator(12, 3)
    assert RewardAccumulator.from_dict(acc.to_dict()) == acc


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 10**27), min_size=1, max_size=8),  # initial stakes
    st.lists(  # epochs: (reward, staker index to change, new stake, claimers bitmask)
        st.tuples(
            st.integers(0, 10**27), st.integers(0, 7), st.integers(0, 10**27), st.integers(0, 255)
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_claims_match_accruals_exactly(
    stakes: list[int], epochs: list[tuple[int, int, int, int]]
) -> None:
    """Escrow = rewards accrued - claims paid; it always covers every pending claim, and what it
    keeps beyond them is floor dust: under one base unit per settlement, plus the carry."""
    acc = RewardAccumulator()
    positions = [StakePosition(s, 0) for s in stakes]
    escrow = settlements = 0
    for reward, who, new_stake, claimers in epochs:
        total = sum(p.stake for p in positions)
        if total:
            acc = process_accrual(acc, reward, total)
            escrow += reward
        i = who % len(positions)
        paid, positions[i] = process_stake_change(acc, positions[i], new_stake)
        escrow -= paid
        settlements += 1
        for j in range(len(positions)):
            if claimers >> j & 1:
                paid, positions[j] = process_claim(acc, positions[j])
                escrow -= paid
                settlements += 1
        pending = sum(get_pending_reward(acc, p) for p in positions)
        assert escrow - pending >= 0
        assert escrow - pending <= settlements + len(positions) + acc.carry // ACC_SCALE + 1
