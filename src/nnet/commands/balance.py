"""`nnet balance [ADDR]`: balance, stake, unbonding and pending rewards of an account."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nnet.commands._common import JsonOpt, NodeOpt, address_of, emit, node_client, pairs, want_json
from nnet.encoding import format_amount


def register(parent: typer.Typer) -> None:
    parent.command("balance")(balance)


def balance(
    address: Annotated[
        str | None, typer.Argument(help="Address or key name (default: your key).")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", "-k", help="Key name whose account to show.")
    ] = None,
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show an account's balance, bonded stake, unbonding entries and pending rewards in NNET.

    The account is an address, a key name (as ADDRESS or --key), or by default your signing key.
    JSON output keeps amounts as base-unit strings, exactly as the node reports them.

    Example: nnet balance --key gpu; nnet balance 0x8ba1f109551bD432803012645Ac136ddd64DBA72
    """
    addr = address_of(address, key)
    with node_client(node) as client:
        acct = client.account(addr)
    emit(acct, as_json=want_json(as_json), human=_human)


def _human(acct: dict[str, Any]) -> str:
    stake = acct.get("stake", {})
    rows: dict[str, Any] = {
        "address": acct["address"],
        "balance": format_amount(int(acct["balance"])) + " NNET",
        "bonded": format_amount(int(stake.get("bonded", "0"))) + " NNET",
        "pending rewards": format_amount(int(acct.get("pending_rewards", "0"))) + " NNET",
        "next nonce": acct.get("next_nonce", acct.get("nonce")),
    }
    for entry in stake.get("unbonding", []):
        rows[f"unbonding @ epoch {entry['release_epoch']}"] = (
            format_amount(int(entry["amount"])) + " NNET"
        )
    return pairs(rows)
