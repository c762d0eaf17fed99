"""Where every unit of the supply is: the conservation check, as the chain itself states it.

    supply == balances + pools + bonded + unbonding + pending rewards + reward escrow
              + fees awaiting the epoch end + open governance deposits
              + marketplace job escrows + node collateral

`supply` starts at the genesis allocation, grows only by minting and shrinks only by burning, so
this identity holding after every block means no transaction or epoch step created or lost a
single base unit. Served by the daemon as `GET /supply`; the tests assert it after every block.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compute_supply_audit"]


def compute_supply_audit(state: Any) -> dict[str, int]:
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
        kind = key.split("/", 1)[0]
        if kind == "account":
            held["balances"] += value["balance"]
        elif kind == "pool":
            held["pools"] += value
        elif kind == "reward":
            held["pending_rewards"] += value
        elif kind == "stake":
            held["bonded"] += value["bonded"]
            held["unbonding"] += sum(a for a, _ in value["unbonding"])
        elif key in ("reward_escrow", "epoch_fees"):
            held[key] += value
        elif kind == "proposal" and "deposit_outcome" not in value:
            held["gov_deposits"] += value["deposit"]
        elif kind == "job":
            held["job_escrow"] += value["escrow"]
        elif kind == "node":
            held["node_collateral"] += value["collateral"]
    total = sum(held.values())
    supply = int(state.get("supply") or 0)
    return {
        **held,
        "total": total,
        "supply": supply,
        "difference": supply - total,
        "burned": int(state.get("burned") or 0),
        "minted": int(state.get("minted") or 0),
    }
