"""`nnet block show HEIGHT`: a block's header and transactions."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nnet.commands._common import JsonOpt, NodeOpt, emit, node_client, pairs, want_json

app = typer.Typer(help="Read blocks from the node.", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="block")


@app.command("show")
def show(
    height: Annotated[int, typer.Argument(min=0, help="Block height.")],
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a block's header, hash and transaction hashes.

    Example: nnet block show 12 --json | jq '.txs | length'
    """
    with node_client(node) as client:
        block = client.block(height)
    emit(block, as_json=want_json(as_json), human=_human)


def _human(block: dict[str, Any]) -> str:
    header = dict(block.get("header", {}))
    header["hash"] = block.get("hash")
    header["txs"] = len(block.get("txs", []))
    return pairs(header)
