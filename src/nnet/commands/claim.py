"""`nnet claim`: withdraw accrued staking and GPU rewards; made to run from cron.

Idempotent: with nothing pending it prints {"status": "nothing_to_claim"} and exits 0, so a cron
job never mails an error for an empty epoch; it says when the epoch ends (rewards are paid
then). Otherwise it submits a `reward.claim`, waits for the commit and prints the receipt as JSON.
"""

from __future__ import annotations

from typing import Annotated

import typer

from nnet.commands._common import (
    ChainOpt,
    FeeOpt,
    KeyOpt,
    NodeOpt,
    PasswordFileOpt,
    emit_line,
    key_name,
    note,
)
from nnet.commands._epoch import next_epoch_end
from nnet.commands._txflow import TxOptions, issue
from nnet.config import home_dir, resolve
from nnet.encoding import format_amount


def register(parent: typer.Typer) -> None:
    parent.command("claim")(claim)


def claim(
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    fee: FeeOpt = None,
    chain: ChainOpt = None,
    node: NodeOpt = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the claim to be committed.")
    ] = True,
) -> None:
    """Move your pending staking and GPU rewards into your balance (exit 0 if nothing is due).

    Rewards accrue at epoch ends; with nothing pending yet it says when the current epoch ends
    (height, blocks left, an estimate of the time) and prints {"status": "nothing_to_claim", ...}.

    Example: 0 * * * * nnet claim --password-file ~/.nnet/pw >> ~/claims.log 2>&1
    """
    from nnet.client import NodeClient
    from nnet.keys import KeyStore

    address = KeyStore(home_dir()).info(key_name(key)).address
    with NodeClient(resolve("node", node) or "") as client:
        pending = int(client.account(address).get("pending_rewards", "0"))
        end = next_epoch_end(client) if pending == 0 else None
    if end is not None:
        note(
            f"nothing to claim for {address} yet: rewards are paid at epoch ends; {end.describe()}"
        )
        emit_line(
            {"status": "nothing_to_claim", "address": address, "amount": "0", **end.to_dict()}
        )
        return
    note(f"claiming {format_amount(pending)} NNET for {address}")
    issue("reward.claim", {}, TxOptions(key, password_file, None, fee, chain, node, True, wait))
