"""`nnet params`: every governance parameter in force on the chain, with its bounds."""

from __future__ import annotations

from typing import Any

import typer

from nnet.commands._common import Column, JsonOpt, NodeOpt, emit_rows, format_param, node_client


def register(parent: typer.Typer) -> None:
    parent.command("params")(params)


def params(node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """List every parameter governance can change (chain, staking, economics, marketplace,
    governance itself): the value in force, its bounds and its meaning.

    Amounts show in NNET, shares in percent; --json keeps the node's integers.

    Example: nnet params | grep gov_
    """
    with node_client(node) as client:
        in_force = client.params()
    rows = [{"name": name, **in_force[name]} for name in sorted(in_force)]
    emit_rows(rows, PARAM_COLUMNS, as_json)


def _show(p: dict[str, Any], field: str) -> str:
    """A parameter value for people, exactly as `nnet econ params` shows it."""
    return format_param(str(p.get("kind")), int(p[field]))


PARAM_COLUMNS: list[Column] = [
    ("NAME", "name"),
    ("VALUE", lambda p: _show(p, "value")),
    ("MIN", lambda p: _show(p, "min")),
    ("MAX", lambda p: _show(p, "max")),
    ("MEANING", lambda p: str(p.get("doc", ""))),
]
