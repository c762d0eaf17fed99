"""`nnet send [FILE|-]`: submit signed transactions (NDJSON) to the node, print one receipt each."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nnet.commands._common import InputArg, NodeOpt, WaitOpt, ndjson_records, note
from nnet.commands._txflow import send_signed
from nnet.errors import MalformedInput, VerificationFailed
from nnet.tx import parse_tx

BATCH = 1000


def register(parent: typer.Typer) -> None:
    parent.command("send")(send)


def send(
    file: InputArg = "-",
    node: NodeOpt = None,
    wait: WaitOpt = False,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Check shape and signatures before sending.")
    ] = True,
) -> None:
    """Submit signed transactions and print one receipt per line; exit 1 if any is refused.

    Reads NDJSON in batches of 1000, so a file of any size streams through.

    Example: nnet stake 10 | nnet send --wait
    """
    refused = 0
    batch: list[dict[str, Any]] = []
    for i, obj in enumerate(ndjson_records(file), start=1):
        if check:
            try:
                parse_tx(obj).verify_signature()
            except (MalformedInput, VerificationFailed) as e:
                raise type(e)(f"line {i}: {e.message}", hint=e.hint) from None
        batch.append(obj)
        if len(batch) >= BATCH:
            refused += _flush(batch, node, wait)
    if batch:
        refused += _flush(batch, node, wait)
    if refused:
        note(f"{refused} transaction(s) refused by the node")
        raise typer.Exit(1)


def _flush(batch: list[dict[str, Any]], node: str | None, wait: bool) -> int:
    n = send_signed(list(batch), node, wait=wait, raise_single=False)
    batch.clear()
    return n
