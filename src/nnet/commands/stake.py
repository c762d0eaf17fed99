"""`nnet stake AMOUNT` and `nnet unstake AMOUNT`: bond NNET for yield, or start unbonding it."""

from __future__ import annotations

from typing import Annotated

import typer

from nnet.commands._txflow import tx_command
from nnet.encoding import parse_amount

AmountArg = Annotated[str, typer.Argument(help="Amount in NNET, e.g. 100.")]


def register(parent: typer.Typer) -> None:
    tx_command(parent, "stake", "stake", stake)
    tx_command(parent, "unstake", "unstake", unstake)


def stake(amount: AmountArg) -> dict[str, str]:
    """Bond NNET to earn staking yield and voting weight.

    Example: nnet stake 100 | nnet send
    """
    return {"amount": str(parse_amount(amount))}


def unstake(amount: AmountArg) -> dict[str, str]:
    """Start unbonding NNET; it returns to the balance after the unbonding period (in epochs).

    Example: nnet unstake 40 --send --wait
    """
    return {"amount": str(parse_amount(amount))}
