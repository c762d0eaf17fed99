"""Read and write helpers for accounts, stakes, pools and supply (the state layout is in state.py).

Helpers named `get_*` only read; `set_*`/`increase_*`/`decrease_*` write one key. They never check
business rules (the transaction processors in transition.py do), except that a balance can never
go negative: that would be a bug in a processor, so it raises an InvalidTx rather than corrupting
state.
"""

from __future__ import annotations

from typing import Any, Protocol

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
    "set_pool",
    "set_stake",
    "stake_key",
]

# The six genesis pools of ECONOMICS.md, with their share of the genesis supply in percent.
POOLS: dict[str, int] = {
    "staking_rewards": 20,
    "gpu_rewards": 30,
    "public": 20,
    "team": 15,
    "treasury": 10,
    "reserve": 5,
}


class StateLike(Protocol):
    def get(self, key: str) -> Any: ...
    def put(self, key: str, value: Any) -> None: ...


def account_key(address: str) -> str:
    return f"account/{address}"


def stake_key(address: str) -> str:
    return f"stake/{address}"


def get_account(state: StateLike, address: str) -> dict[str, int]:
    acct = state.get(account_key(address))
    return acct if acct is not None else {"balance": 0, "nonce": 0}


def get_balance(state: StateLike, address: str) -> int:
    return int(get_account(state, address)["balance"])


def get_nonce(state: StateLike, address: str) -> int:
    return int(get_account(state, address)["nonce"])


def increase_balance(state: StateLike, address: str, amount: int) -> None:
    if amount == 0:
        return
    acct = get_account(state, address)
    state.put(account_key(address), {"balance": acct["balance"] + amount, "nonce": acct["nonce"]})


def decrease_balance(state: StateLike, address: str, amount: int) -> None:
    if amount == 0:
        return
    acct = get_account(state, address)
    if acct["balance"] < amount:
        raise InvalidTx(
            f"{address} has {nnet(acct['balance'])} NNET, needs {nnet(amount)} NNET",
            code="insufficient_funds",
        )
    state.put(account_key(address), {"balance": acct["balance"] - amount, "nonce": acct["nonce"]})


def get_stake(state: StateLike, address: str) -> dict[str, Any]:
    stake = state.get(stake_key(address))
    return stake if stake is not None else {"bonded": 0, "unbonding": []}


def set_stake(state: StateLike, address: str, stake: dict[str, Any]) -> None:
    """Store a stake; an empty one is deleted so the state holds no zero entries."""
    empty = stake["bonded"] == 0 and not stake["unbonding"]
    state.put(stake_key(address), None if empty else stake)


def get_total_bonded(state: StateLike) -> int:
    return int(state.get("total_bonded") or 0)


def get_supply(state: StateLike) -> int:
    return int(state.get("supply") or 0)


def get_pool(state: StateLike, name: str) -> int:
    return int(state.get(f"pool/{name}") or 0)


def set_pool(state: StateLike, name: str, amount: int) -> None:
    if amount < 0:
        raise InvalidTx(f"pool {name} would go negative", code="pool_exhausted")
    state.put(f"pool/{name}", amount)


def get_stored_rewards(state: StateLike, address: str) -> int:
    """Rewards already settled to `address`: GPU rewards, and staking rewards settled at a stake
    change (`reward/<addr>`)."""
    return int(state.get(f"reward/{address}") or 0)


def get_reward_acc(state: StateLike) -> RewardAccumulator:
    """The global staking reward-per-stake accumulator (`reward_acc`; zero before any reward)."""
    raw = state.get("reward_acc")
    if raw is None:
        return RewardAccumulator()
    return RewardAccumulator(int(raw["reward_per_stake"]), int(raw["carry"]))


def get_reward_snapshot(state: StateLike, address: str) -> int:
    """The accumulator value at the staker's last settlement (`reward_snap/<addr>`; absent = 0,
    right for genesis stakes because the accumulator starts at 0)."""
    return int(state.get(f"reward_snap/{address}") or 0)


def get_accrued_staking_reward(state: StateLike, address: str) -> int:
    """Staking reward earned since the last settlement: bonded × (acc − snapshot), O(1)."""
    bonded = int(get_stake(state, address)["bonded"])
    if bonded == 0:
        return 0
    position = StakePosition(bonded, get_reward_snapshot(state, address))
    return get_pending_reward(get_reward_acc(state), position)


def get_pending_rewards(state: StateLike, address: str) -> int:
    """Everything `address` can claim now: settled rewards plus staking reward accrued since."""
    return get_stored_rewards(state, address) + get_accrued_staking_reward(state, address)
