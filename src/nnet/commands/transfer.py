"""`nnet transfer TO AMOUNT`: a signed transfer, printed (or sent with --send)."""

from __future__ import annotations

from typing import Annotated

import typer

from nnet.commands._txflow import tx_command
from nnet.crypto import normalize_address
from nnet.encoding import parse_amount


def register(parent: typer.Typer) -> None:
    tx_command(parent, "transfer", "transfer", transfer)


def transfer(
    to: Annotated[str, typer.Argument(help="Recipient address (0x + 40 hex).")],
    amount: Annotated[str, typer.Argument(help="Amount in NNET, up to 18 decimals, e.g. 12.5.")],
) -> dict[str, str]:
    """Send NNET to an address: prints the signed transaction as one JSON line.

    Example: nnet transfer 0x8ba1f109551bD432803012645Ac136ddd64DBA72 12.5 --nonce 0 | nnet send
    """
    return {"to": normalize_address(to, "recipient"), "amount": str(parse_amount(amount))}
