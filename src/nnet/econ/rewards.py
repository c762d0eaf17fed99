"""Pull-based staking rewards: a reward-per-stake accumulator in the style of Cosmos F1.

Each epoch adds `reward / total_stake` to one global number; a staker keeps only the value of that
number when they last claimed (a snapshot). Pending reward is `stake * (now - snapshot)`. Epoch
processing and a claim are therefore O(1), whatever the number of stakers.

The accumulator is fixed-point with ACC_SCALE; the part of a reward that does not divide evenly is
carried into the next accrual instead of being lost, so over time the accumulator hands out
every base unit it was given except per-staker floor dust (under one base unit per claim), which
stays in the reward escrow. A stake change must first settle (claim) the pending reward at the old
stake; `process_stake_change` does both.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnet.errors import MalformedInput

__all__ = [
    "ACC_SCALE",
    "RewardAccumulator",
    "StakePosition",
    "get_pending_reward",
    "process_accrual",
    "process_claim",
    "process_stake_change",
]

ACC_SCALE = 10**36


def _check_amount(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedInput(f"{name} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True)
class RewardAccumulator:
    """Cumulative reward per unit of stake (scaled by ACC_SCALE) and the undivided remainder
    (in scaled units) carried to the next accrual."""

    reward_per_stake: int = 0
    carry: int = 0

    def to_dict(self) -> dict[str, str]:
        return {"reward_per_stake": str(self.reward_per_stake), "carry": str(self.carry)}

    def accrue(self, total_reward: int, total_stake: int) -> RewardAccumulator:
        """The accumulator after spreading `total_reward` over `total_stake` (process_accrual)."""
        return process_accrual(self, total_reward, total_stake)

    def pending(self, stake: int, snapshot: int) -> int:
        """What a stake last settled at `snapshot` can claim now (get_pending_reward)."""
        return get_pending_reward(self, StakePosition(stake, snapshot))

    def claim(self, stake: int, snapshot: int) -> tuple[int, int]:
        """(amount paid, new snapshot) for a claim (process_claim)."""
        paid, position = process_claim(self, StakePosition(stake, snapshot))
        return paid, position.snapshot

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> RewardAccumulator:
        try:
            acc = cls(int(data["reward_per_stake"]), int(data["carry"]))
        except (KeyError, TypeError, ValueError):
            raise MalformedInput(
                "accumulator needs reward_per_stake and carry as integers"
            ) from None
        _check_amount(acc.reward_per_stake, "reward_per_stake")
        _check_amount(acc.carry, "carry")
        return acc


@dataclass(frozen=True)
class StakePosition:
    """One staker: bonded amount and the accumulator value at their last settlement."""

    stake: int
    snapshot: int


def process_accrual(
    acc: RewardAccumulator, total_reward: int, total_stake: int
) -> RewardAccumulator:
    """Spread `total_reward` over `total_stake`. With no stake nothing accrues (the caller must
    not pay a staking reward then; process_epoch_economics pays none)."""
    _check_amount(total_reward, "total_reward")
    _check_amount(total_stake, "total_stake")
    if total_stake == 0:
        if total_reward:
            raise MalformedInput("cannot accrue a staking reward with zero total stake")
        return acc
    scaled = total_reward * ACC_SCALE + acc.carry
    delta, carry = divmod(scaled, total_stake)
    return RewardAccumulator(acc.reward_per_stake + delta, carry)


def get_pending_reward(acc: RewardAccumulator, position: StakePosition) -> int:
    """Base units a staker can claim now: stake times the accumulator growth since the snapshot."""
    if position.snapshot > acc.reward_per_stake:
        raise MalformedInput("stake snapshot is ahead of the accumulator")
    return position.stake * (acc.reward_per_stake - position.snapshot) // ACC_SCALE


def process_claim(acc: RewardAccumulator, position: StakePosition) -> tuple[int, StakePosition]:
    """Pay the pending reward and move the snapshot up, so the same reward is never paid twice."""
    paid = get_pending_reward(acc, position)
    return paid, StakePosition(position.stake, acc.reward_per_stake)


def process_stake_change(
    acc: RewardAccumulator, position: StakePosition, new_stake: int
) -> tuple[int, StakePosition]:
    """Settle the reward earned at the old stake, then start the new stake from now."""
    _check_amount(new_stake, "new_stake")
    paid, _ = process_claim(acc, position)
    return paid, StakePosition(new_stake, acc.reward_per_stake)
