"""`nnet params`: every governance parameter in force on the chain, with its bounds."""

from __future__ import annotations

from typing import Any

import typer

from nnet.commands._common import JsonOpt, NodeOpt, emit, format_param, table, want_json
from nnet.config import resolve


def register(parent: typer.Typer) -> None:
    parent.command("params")(params)


def params(node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """List every parameter governance can change (chain, staking, economics, marketplace,
    governance itself): the value in force, its bounds and its meaning.

    Amounts show in NNET, shares in percent; --json keeps the node's integers.

    Example: nnet params | grep gov_
    """
    from nnet.client import NodeClient

    with NodeClient(resolve("node", node) or "") as client:
        table_ = client.get("/params")
    if want_json(as_json):
        for name in sorted(table_):
            emit({"name": name, **table_[name]}, as_json=True)
        return
    rows = [
        (name, _show(p, "value"), _show(p, "min"), _show(p, "max"), str(p.get("doc", "")))
        for name, p in sorted(table_.items())
    ]
    print(table(rows, ("NAME", "VALUE", "MIN", "MAX", "MEANING")))


def _show(p: dict[str, Any], field: str) -> str:
    """A parameter value for people, exactly as `nnet econ params` shows it."""
    return format_param(str(p.get("kind")), int(p[field]))
