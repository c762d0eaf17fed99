"""`nnet status`: the node's chain id, height, epoch, head, peers and mempool."""

from __future__ import annotations

import typer

from nnet.commands._common import JsonOpt, NodeOpt, emit, pairs, want_json
from nnet.config import resolve


def register(parent: typer.Typer) -> None:
    parent.command("status")(status)


def status(node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Show what the node knows: chain id, height, epoch, head hash, peers, mempool size.

    Example: nnet status --json | jq .height
    """
    from nnet.client import NodeClient

    with NodeClient(resolve("node", node) or "") as client:
        emit(client.status(), as_json=want_json(as_json), human=pairs)
