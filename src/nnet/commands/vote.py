"""`nnet vote propose|deposit|yes|no|abstain|veto|list|show`: on-chain governance.

Proposals: `param KEY VALUE` (any governance parameter, checked against its bounds), `text TITLE`,
`spend TO AMOUNT` (from the treasury pool) and `sequencer ADDRESS`. Rules: docs/governance.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from nnet.chain.params import PARAMS, check_param
from nnet.commands._common import (
    Column,
    JsonOpt,
    NodeOpt,
    emit,
    emit_rows,
    node_client,
    note,
    pairs,
    want_json,
)
from nnet.commands._listing import LimitOpt, check_status, listing
from nnet.commands._txflow import tx_command
from nnet.crypto import normalize_address
from nnet.encoding import format_amount, parse_amount
from nnet.errors import MalformedInput, UsageError

app = typer.Typer(help="Propose, fund and vote on governance proposals.", no_args_is_help=True)
propose_app = typer.Typer(
    help="Open a proposal (param, text, spend, sequencer).", no_args_is_help=True
)
app.add_typer(propose_app, name="propose")

IdArg = Annotated[int, typer.Argument(min=1, help="Proposal id.")]
DepositOpt = Annotated[
    str,
    typer.Option(
        "--deposit",
        help="Initial deposit in NNET (voting opens at gov_min_deposit) [default: the least a "
        "proposal may carry, gov_min_propose_deposit].",
    ),
]
DescriptionOpt = Annotated[str, typer.Option("--description", help="Why; shown to voters.")]


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="vote")


def _proposal(
    kind: str, title: str, description: str, deposit: str, **extra: str
) -> dict[str, str]:
    body = {"kind": kind, "title": title, **extra}
    if description:
        body["description"] = description
    if deposit:
        body["deposit"] = str(parse_amount(deposit))
    else:  # the chain refuses less (deposit_too_low); governance may raise it
        least = int(PARAMS["gov_min_propose_deposit"].default)
        body["deposit"] = str(least)
        note(f"deposit {format_amount(least)} NNET, the least a proposal may carry")
    return body


def parse_param_value(key: str, text: str) -> int:
    """A value as a person writes it: NNET for amounts, 33.4% or ppm for shares, 4% or 0.04 (or
    raw parts per billion) for economic rates, else an integer."""
    spec = PARAMS.get(key)
    if spec is None:
        raise UsageError(f"unknown parameter {key!r}", hint=f"known: {', '.join(sorted(PARAMS))}")
    if spec.kind == "units":
        value = parse_amount(text)
    elif spec.kind == "ppm" and text.endswith("%"):
        value = parse_amount(text[:-1]) * 10_000 // 10**18
    elif spec.kind == "ppb" and not (text.strip().isascii() and text.strip().isdigit()):
        from nnet.econ.fixedpoint import parse_fraction

        try:
            scaled = parse_fraction(text, key) * 10**9
        except ValueError as e:
            raise UsageError(str(e)) from None
        if scaled.denominator != 1:
            raise UsageError(f"{key}: {text!r} is finer than one part per billion")
        value = int(scaled)
    elif text.strip().isascii() and text.strip().isdigit():
        value = int(text)
    else:
        raise UsageError(f"{key} takes a whole number, not {text!r}")
    try:
        return check_param(key, value)
    except MalformedInput as e:
        raise UsageError(e.message) from None


def propose_param(
    name: Annotated[
        str, typer.Argument(help="Parameter name (see `nnet econ params`, GET /params).")
    ],
    value: Annotated[str, typer.Argument(help="New value: NNET for amounts, 33.4% for shares.")],
    deposit: DepositOpt = "",
    description: DescriptionOpt = "",
) -> dict[str, str]:
    """Propose a new value for a governance parameter; bounds are checked now and when enforced.

    Example: nnet vote propose param gov_voting_epochs 4 --deposit 100 --send
    """
    v = parse_param_value(name, value)
    return _proposal(
        "param", f"set {name} to {value}", description, deposit, key=name, value=str(v)
    )


def propose_text(
    title: Annotated[str, typer.Argument(help="What the proposal says.")],
    deposit: DepositOpt = "",
    description: DescriptionOpt = "",
) -> dict[str, str]:
    """Propose a signalling text; passing it changes nothing on chain.

    Example: nnet vote propose text "Fund a CIFAR-100 benchmark" --deposit 100 | nnet send
    """
    return _proposal("text", title, description, deposit)


def propose_spend(
    to: Annotated[str, typer.Argument(help="Recipient address.")],
    amount: Annotated[str, typer.Argument(help="Amount in NNET from the treasury pool.")],
    deposit: DepositOpt = "",
    description: DescriptionOpt = "",
) -> dict[str, str]:
    """Propose a grant from the ecosystem/treasury pool to an address.

    Example: nnet vote propose spend 0x8ba1f109551bD432803012645Ac136ddd64DBA72 5000 --deposit 100
    """
    addr = normalize_address(to, "recipient")
    units = str(parse_amount(amount))
    title = f"spend {amount} NNET to {addr}"
    return _proposal("spend", title, description, deposit, to=addr, amount=units)


def propose_sequencer(
    address: Annotated[str, typer.Argument(help="Address of the new sequencer.")],
    deposit: DepositOpt = "",
    description: DescriptionOpt = "",
) -> dict[str, str]:
    """Propose a new sequencer for the v1 chain (the node holding that key takes over).

    Example: nnet vote propose sequencer 0x8ba1f109551bD432803012645Ac136ddd64DBA72 --deposit 100
    """
    addr = normalize_address(address, "sequencer")
    return _proposal("sequencer", f"make {addr} the sequencer", description, deposit, address=addr)


def deposit(
    proposal: IdArg,
    amount: Annotated[str, typer.Argument(help="Amount in NNET.")],
) -> dict[str, Any]:
    """Add to a proposal's deposit; voting opens once it reaches the minimum.

    Example: nnet vote deposit 3 50 --send
    """
    return {"proposal": proposal, "amount": str(parse_amount(amount))}


def _vote_maker(option: str) -> Callable[[int], dict[str, Any]]:
    def make(proposal: IdArg) -> dict[str, Any]:
        return {"proposal": proposal, "option": option}

    make.__doc__ = (
        f"Vote {option} on a proposal; vote again to change it until voting ends.\n\n"
        f"Example: nnet vote {option} 7 | nnet send"
    )
    make.__name__ = f"vote_{option}"
    return make


tx_command(propose_app, "param", "gov.propose", propose_param)
tx_command(propose_app, "text", "gov.propose", propose_text)
tx_command(propose_app, "spend", "gov.propose", propose_spend)
tx_command(propose_app, "sequencer", "gov.propose", propose_sequencer)
tx_command(app, "deposit", "gov.deposit", deposit)
for _option in ("yes", "no", "abstain", "veto"):
    tx_command(app, _option, "gov.vote", _vote_maker(_option))


PROPOSAL_COLUMNS: list[Column] = [
    ("ID", "id"),
    ("KIND", "kind"),
    ("STATUS", "status"),
    ("BLOCKS LEFT", "blocks_left"),
    ("TITLE", "title"),
]


@app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option("--status", help="Only proposals in this status (e.g. voting).")
    ] = None,
    limit: LimitOpt = None,
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List proposals, newest first, with status and blocks left in their period.

    Every proposal, page by page, unless --limit says how many.

    Example: nnet vote list --status voting --limit 20
    """
    from nnet.chain.governance import PROPOSAL_STATUSES

    check_status(status, PROPOSAL_STATUSES, "proposal")
    with node_client(node) as client:
        props = listing(lambda size: client.proposals(status, page_size=size), limit)
        emit_rows(props, PROPOSAL_COLUMNS, as_json)


@app.command("show")
def show(proposal: IdArg, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Show a proposal: live tally, time left, and what would happen if voting ended now.

    Example: nnet vote show 7
    """
    with node_client(node) as client:
        p = client.proposal(proposal)
    emit(p, as_json=want_json(as_json), human=_human)


def _human(p: dict[str, Any]) -> str:
    rows: dict[str, Any] = {
        "id": p["id"],
        "kind": p["kind"],
        "title": p["title"],
        "status": p["status"],
        "proposer": p["proposer"],
        "deposit": format_amount(int(p["deposit"])) + " NNET",
    }
    if "blocks_left" in p:
        rows["ends at height"] = f"{p['period_ends_at_height']} ({p['blocks_left']} blocks left)"
    tally = p.get("tally_if_ended_now") or p.get("tally")
    if tally:
        for option, power in tally["power"].items():
            rows[f"power {option}"] = format_amount(int(power)) + " NNET"
        label = "if it ended now" if "tally_if_ended_now" in p else "outcome"
        rows[label] = f"{tally['outcome']} ({tally['reason']})"
    if p.get("effective_height") is not None:
        rows["in force from"] = f"height {p['effective_height']}"
    return pairs(rows)
