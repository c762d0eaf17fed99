"""`nnet claim`: withdraw accrued staking and GPU rewards; made to run from cron.

Idempotent: with nothing pending it prints {"status": "nothing_to_claim"} and exits 0, so a cron
job never mails an error for an empty epoch; it says when the epoch ends (rewards are paid
then). Otherwise it submits a `reward.claim`, waits for the commit and prints the receipt as JSON.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from nnet.commands._common import address_of, emit_line, node_client, note
from nnet.commands._epoch import next_epoch_end
from nnet.commands._txflow import OptionAs, TxOptions, command_with_tx_options, issue
from nnet.encoding import format_amount

ClaimWaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for the claim to be committed.")
]


def register(parent: typer.Typer) -> None:
    # a claim is always sent (it is made to run from cron), with the node's next nonce
    adapt = {"nonce": None, "send": None, "wait": OptionAs("wait", ClaimWaitOpt, True)}
    command_with_tx_options(parent, "claim", claim, adapt=adapt)


def claim(*, opts: TxOptions) -> None:
    """Move your pending staking and GPU rewards into your balance (exit 0 if nothing is due).

    Rewards accrue at epoch ends; with nothing pending yet it says when the current epoch ends
    (height, blocks left, an estimate of the time) and prints {"status": "nothing_to_claim", ...}.

    Example: 0 * * * * nnet claim --password-file ~/.nnet/pw >> ~/claims.log 2>&1
    """
    address = address_of(None, opts.key)
    with node_client(opts.node) as client:
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
    issue("reward.claim", {}, replace(opts, send=True))
