"""`nnet block show HEIGHT`: a block's header and transactions; `nnet block verify HEIGHT`: its
finality, checked against its commit certificate (the light-client check)."""

from __future__ import annotations

from pathlib import Path
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


@app.command("verify")
def verify(
    height: Annotated[int, typer.Argument(min=1, help="Block height.")],
    validators: Annotated[
        Path | None,
        typer.Option(
            "--validators",
            help="Check against this validator set (JSON as GET /validators serves it) "
            "instead of the node's.",
        ),
    ] = None,
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check that a block is final: its commit certificate, against its validator set.

    The certificate (the next header's last_commit) must name this block, the set must hash to
    the header's validators_hash, and the signers must hold more than 2/3 of the power with an
    aggregate BLS signature that verifies (one check, whatever the size of the set). Exit 0
    when final, 1 with the reason when not.

    Example: nnet block verify 12 --json | jq .signed_power
    """
    from nnet.errors import VerificationFailed
    from nnet.services.finality import fetch_finality

    trusted = _read_validators(validators) if validators is not None else None
    with node_client(node) as client:
        finality = fetch_finality(client, height, validators=trusted)
    report = finality.verify()
    emit(report.to_dict(), as_json=want_json(as_json), human=_human_finality)
    if not report.ok:
        raise VerificationFailed(f"block {height} is not proven final: {report.reason}")


def _read_validators(path: Path) -> list[dict[str, Any]]:
    """A validator set from a file: GET /validators's answer, or just its list."""
    from nnet.commands._common import open_input
    from nnet.encoding import strict_loads
    from nnet.errors import MalformedInput

    f, name = open_input(str(path))
    try:
        doc = strict_loads(f.read())
    finally:
        if name != "stdin":
            f.close()
    items = doc.get("validators") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise MalformedInput(f"{path} holds no validator list")
    return items


def _human_finality(report: dict[str, Any]) -> str:
    head = f"block {report['height']} {report['hash']}"
    if not report["ok"]:
        return f"{head} NOT final: {report['reason']}"
    signed, total = report["signed_power"], report["total_power"]
    share = f"{100 * signed / total:.1f}".removesuffix(".0") if total else "0"
    return (
        f"{head} final: signed {signed}/{total} power ({share} %), round {report['round']}, "
        f"aggregate check {report['check_ms']:.1f} ms"
    )
