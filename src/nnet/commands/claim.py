"""`nnet claim [NODE]`: withdraw accrued staking and GPU rewards; made to run from cron.

Idempotent: with nothing pending it prints {"status": "nothing_to_claim"} and exits 0, so a cron
job never mails an error for an empty epoch; it says when the epoch ends (rewards are paid
then). Otherwise it submits a `reward.claim`, waits for the commit and prints the receipt as JSON.

With NODE, the signing key claims the rewards of the compute node it operates (its hot key,
docs/operations.md "Owner and operator keys"): `reward.claim {"node": NODE}` pays NODE, the
owner's address, so the cold key can stay offline. A key that does not operate NODE is refused
before anything is signed (exit 1, `not_operator`), as the chain would refuse it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from nnet.commands._common import address_of, emit_line, node_client, note
from nnet.commands._epoch import next_epoch_end
from nnet.commands._txflow import OptionAs, TxOptions, command_with_tx_options, issue
from nnet.encoding import format_amount
from nnet.errors import InvalidTx, NotFound

if TYPE_CHECKING:
    from nnet.client import NodeClient

ClaimWaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for the claim to be committed.")
]
NodeArg = Annotated[
    str | None,
    typer.Argument(
        metavar="NODE",
        help="The compute node whose rewards to claim, paid to its owner: an address or a key "
        "name; the signing key must operate it [default: your own rewards].",
        show_default=False,
    ),
]


def register(parent: typer.Typer) -> None:
    # a claim is always sent (it is made to run from cron), with the node's next nonce
    adapt = {"nonce": None, "send": None, "wait": OptionAs("wait", ClaimWaitOpt, True)}
    command_with_tx_options(parent, "claim", claim, adapt=adapt)


def claim(node_address: NodeArg = None, *, opts: TxOptions) -> None:
    """Move pending staking and GPU rewards into the balance (exit 0 if nothing is due).

    Rewards accrue at epoch ends; with nothing pending yet it says when the current epoch ends
    (height, blocks left, an estimate of the time) and prints {"status": "nothing_to_claim", ...}.
    With NODE, an operator (hot) key claims its node's rewards into the owner's balance.

    Example: 0 * * * * nnet claim --password-file ~/.nnet/pw >> ~/claims.log 2>&1
    """
    signer = address_of(None, opts.key)
    payee = signer if node_address is None else address_of(node_address, what="node")
    own = payee == signer  # both checksummed
    with node_client(opts.node) as client:
        if not own:
            check_operator(client, payee, signer)
        pending = int(client.account(payee).get("pending_rewards", "0"))
        end = next_epoch_end(client) if pending == 0 else None
    if end is not None:
        note(f"nothing to claim for {payee} yet: rewards are paid at epoch ends; {end.describe()}")
        emit_line({"status": "nothing_to_claim", "address": payee, "amount": "0", **end.to_dict()})
        return
    body = {} if own else {"node": payee}
    by = "" if own else f", signed by its operator {signer}"
    note(f"claiming {format_amount(pending)} NNET for {payee}{by}")
    issue("reward.claim", body, replace(opts, send=True))


def check_operator(client: NodeClient, node: str, signer: str) -> None:
    """Refuse (not_operator) a signer that does not operate `node`, as the chain would."""
    try:
        record = client.node(node)
    except NotFound:
        record = None
    if record is None or str(record["address"]).lower() != node.lower():
        raise InvalidTx(
            f"{node} is not a registered compute node: {signer} can only claim its own rewards",
            hint="leave NODE out to claim your own, or name the node's (owner's) address",
            code="not_operator",
        )
    operator = str(record.get("operator", node))
    if operator.lower() != signer.lower():
        raise InvalidTx(
            f"{signer} does not operate node {node} (its operator is {operator}): only its "
            "owner or its operator claims its rewards",
            hint=f"sign with --key of {operator}",
            code="not_operator",
        )
