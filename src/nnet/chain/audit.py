"""Where every unit of the supply is: the conservation check, as the chain itself states it.

    supply == balances + pools + bonded + unbonding + pending rewards + reward escrow
              + fees awaiting the epoch end + open governance deposits
              + marketplace job escrows + node collateral

`supply` starts at the genesis allocation, grows only by minting and shrinks only by burning, so
this identity holding after every block means no transaction or epoch step created or lost a
single base unit. Served by the daemon as `GET /supply`; the tests assert it after every block.
"""

from __future__ import annotations

from nnet.chain.keys import (
    BURNED_KEY,
    EPOCH_FEES_KEY,
    MINTED_KEY,
    REWARD_ESCROW_KEY,
    SUPPLY_KEY,
    get_key_family,
)
from nnet.chain.state import State
from nnet.chain.types import Account, Job, NodeRecord, Proposal, Stake

__all__ = ["compute_supply_audit"]


def compute_supply_audit(state: State) -> dict[str, int]:
    """Units held per category, their total, the recorded supply and the difference (0)."""
    held = dict.fromkeys(
        (
            "balances",
            "pools",
            "bonded",
            "unbonding",
            "pending_rewards",
            "reward_escrow",
            "epoch_fees",
            "gov_deposits",
            "job_escrow",
            "node_collateral",
        ),
        0,
    )
    for key, value in state.data.items():
        family = get_key_family(key)
        if family == "account":
            held["balances"] += Account.from_state(value).balance
        elif family == "pool":
            held["pools"] += value
        elif family == "reward":
            held["pending_rewards"] += value
        elif family == "stake":
            stake = Stake.from_state(value)
            held["bonded"] += stake.bonded
            held["unbonding"] += sum(u.amount for u in stake.unbonding)
        elif key in (REWARD_ESCROW_KEY, EPOCH_FEES_KEY):
            held[key] += value
        elif family == "proposal":
            proposal = Proposal.from_state(value)
            if proposal.deposit_outcome is None:
                held["gov_deposits"] += proposal.deposit
        elif family == "job":
            held["job_escrow"] += Job.from_state(value).escrow
        elif family == "node":
            held["node_collateral"] += NodeRecord.from_state(value).collateral
    total = sum(held.values())
    supply = int(state.get(SUPPLY_KEY) or 0)
    return {
        **held,
        "total": total,
        "supply": supply,
        "difference": supply - total,
        "burned": int(state.get(BURNED_KEY) or 0),
        "minted": int(state.get(MINTED_KEY) or 0),
    }
