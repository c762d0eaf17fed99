"""Read and write helpers for accounts, stakes, pools and supply (the state layout is in state.py).

Helpers named `get_*` only read; `set_*`/`increase_*`/`decrease_*` write one key. They never check
business rules (the transaction processors in transition.py do), except that a balance can never
go negative: that would be a bug in a processor, so it raises an InvalidTx rather than corrupting
state.
"""

from __future__ import annotations

from nnet.chain.keys import (
    REWARD_ACC_KEY,
    SUPPLY_KEY,
    TOTAL_BONDED_KEY,
    account_key,
    pool_key,
    reward_key,
    reward_snapshot_key,
    stake_key,
)
from nnet.chain.types import Account, Stake, StateLike, Units
from nnet.econ.pools import GENESIS_PERCENT
from nnet.econ.rewards import RewardAccumulator, StakePosition, get_pending_reward
from nnet.encoding import format_amount as nnet
from nnet.errors import InvalidTx

__all__ = [
    "POOLS",
    "StateLike",
    "account_key",
    "decrease_balance",
    "get_account",
    "get_accrued_staking_reward",
    "get_balance",
    "get_nonce",
    "get_pending_rewards",
    "get_pool",
    "get_reward_acc",
    "get_reward_snapshot",
    "get_stake",
    "get_stored_rewards",
    "get_supply",
    "get_total_bonded",
    "increase_balance",
    "put_account",
    "put_reward_acc",
    "set_pool",
    "set_stake",
    "set_stored_rewards",
    "stake_key",
]

# The six genesis pools of ECONOMICS.md with their percentages: the one table, in econ/pools.py.
POOLS: dict[str, int] = GENESIS_PERCENT


def get_account(state: StateLike, address: str) -> Account:
    acct = state.get(account_key(address))
    return Account() if acct is None else Account.from_state(acct)


def put_account(state: StateLike, address: str, account: Account) -> None:
    state.put(account_key(address), account.to_state())


def get_balance(state: StateLike, address: str) -> int:
    return get_account(state, address).balance


def get_nonce(state: StateLike, address: str) -> int:
    return get_account(state, address).nonce


def increase_balance(state: StateLike, address: str, amount: int) -> None:
    if amount == 0:
        return
    acct = get_account(state, address)
    put_account(state, address, Account(Units(acct.balance + amount), acct.nonce))


def decrease_balance(state: StateLike, address: str, amount: int) -> None:
    if amount == 0:
        return
    acct = get_account(state, address)
    if acct.balance < amount:
        raise InvalidTx(
            f"{address} has {nnet(acct.balance)} NNET, needs {nnet(amount)} NNET",
            code="insufficient_funds",
        )
    put_account(state, address, Account(Units(acct.balance - amount), acct.nonce))


def get_stake(state: StateLike, address: str) -> Stake:
    stake = state.get(stake_key(address))
    return Stake() if stake is None else Stake.from_state(stake)


def set_stake(state: StateLike, address: str, stake: Stake) -> None:
    """Store a stake; an empty one is deleted so the state holds no zero entries."""
    state.put(stake_key(address), None if stake.is_empty else stake.to_state())


def get_total_bonded(state: StateLike) -> int:
    return int(state.get(TOTAL_BONDED_KEY) or 0)


def get_supply(state: StateLike) -> int:
    return int(state.get(SUPPLY_KEY) or 0)


def get_pool(state: StateLike, name: str) -> int:
    return int(state.get(pool_key(name)) or 0)


def set_pool(state: StateLike, name: str, amount: int) -> None:
    if amount < 0:
        raise InvalidTx(f"pool {name} would go negative", code="pool_exhausted")
    state.put(pool_key(name), amount)


def get_stored_rewards(state: StateLike, address: str) -> int:
    """Rewards already settled to `address`: GPU rewards, and staking rewards settled at a stake
    change (`reward/<addr>`)."""
    return int(state.get(reward_key(address)) or 0)


def get_reward_acc(state: StateLike) -> RewardAccumulator:
    """The global staking reward-per-stake accumulator (`reward_acc`; zero before any reward)."""
    raw = state.get(REWARD_ACC_KEY)
    if raw is None:
        return RewardAccumulator()
    return RewardAccumulator(int(raw["reward_per_stake"]), int(raw["carry"]))


def set_stored_rewards(state: StateLike, address: str, amount: int) -> None:
    """Settled rewards of `address`; zero deletes the key."""
    state.put(reward_key(address), amount or None)


def put_reward_acc(state: StateLike, acc: RewardAccumulator) -> None:
    state.put(REWARD_ACC_KEY, {"reward_per_stake": acc.reward_per_stake, "carry": acc.carry})


def get_reward_snapshot(state: StateLike, address: str) -> int:
    """The accumulator value at the staker's last settlement (`reward_snap/<addr>`; absent = 0,
    right for genesis stakes because the accumulator starts at 0)."""
    return int(state.get(reward_snapshot_key(address)) or 0)


def get_accrued_staking_reward(state: StateLike, address: str) -> int:
    """Staking reward earned since the last settlement: bonded × (acc − snapshot), O(1)."""
    bonded = get_stake(state, address).bonded
    if bonded == 0:
        return 0
    position = StakePosition(bonded, get_reward_snapshot(state, address))
    return get_pending_reward(get_reward_acc(state), position)


def get_pending_rewards(state: StateLike, address: str) -> int:
    """Everything `address` can claim now: settled rewards plus staking reward accrued since."""
    return get_stored_rewards(state, address) + get_accrued_staking_reward(state, address)
