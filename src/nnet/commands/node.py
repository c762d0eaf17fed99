"""`nnet node register|withdraw|list|show`: a compute node's registration and collateral.

A node registers its GPU and its environment class (the class a proof records, POL.md: exact-mode
jobs draw their verifiers among nodes of the prover's class) and locks collateral that job claims
draw on. Rules: docs/marketplace.md.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, Any

import typer

from nnet.commands._common import JsonOpt, NodeOpt, emit, pairs, table, want_json
from nnet.commands._txflow import tx_command
from nnet.config import resolve
from nnet.crypto import normalize_address
from nnet.encoding import format_amount, parse_amount

app = typer.Typer(help="Register a compute node and manage its collateral.", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="node")


def default_env_class(device: str = "auto", threads: int = 1) -> str:
    """This machine's environment class, as `nnet train` records it in a proof (imports torch,
    so only when --env is not given)."""
    import torch

    from nnet.proof.engine import get_environment

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    spec = SimpleNamespace(job={"device": device, "threads": threads})
    return str(get_environment(spec)["class"])  # type: ignore[arg-type]


def register_node(
    gpu: Annotated[str, typer.Option("--gpu", help="GPU model, e.g. H100 (or cpu).")],
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            help="Environment class (default: this machine's, as `nnet train` records it, "
            "for 1 CPU thread).",
        ),
    ] = None,
    collateral: Annotated[
        str, typer.Option("--collateral", help="NNET to lock as collateral (adds to any).")
    ] = "0",
) -> dict[str, str]:
    """Register this key as a compute node (or update it, adding collateral).

    Example: nnet node register --gpu H100 --collateral 500 --send
    """
    env_class = env if env is not None else default_env_class()
    return {"gpu": gpu, "env": env_class, "collateral": str(parse_amount(collateral))}


def withdraw(
    amount: Annotated[str, typer.Argument(help="NNET of free collateral to take back.")],
) -> dict[str, str]:
    """Take free collateral (not locked in a claimed job) back to the balance.

    Example: nnet node withdraw 100 --send
    """
    return {"amount": str(parse_amount(amount))}


tx_command(app, "register", "node.register", register_node)
tx_command(app, "withdraw", "node.withdraw", withdraw)


def _client(node: str | None):  # type: ignore[no-untyped-def]
    from nnet.client import NodeClient

    return NodeClient(resolve("node", node) or "")


@app.command("list")
def list_(node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """List registered compute nodes with collateral and reputation.

    Example: nnet node list
    """
    with _client(node) as client:
        nodes = client.get("/nodes")["nodes"]
    if want_json(as_json):
        for n in nodes:
            emit(n, as_json=True)
        return
    rows = [
        (
            n["address"],
            n["gpu"],
            format_amount(int(n["collateral"])),
            format_amount(int(n["locked"])),
            str(n["reputation"]),
            str(n["proofs_ok"]),
        )
        for n in nodes
    ]
    print(table(rows, ("ADDRESS", "GPU", "COLLATERAL", "LOCKED", "REPUTATION", "PROOFS OK")))


@app.command("show")
def show(
    address: Annotated[str, typer.Argument(help="Node address.")],
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one compute node: class, collateral, reputation, verified work.

    Example: nnet node show 0x8ba1f109551bD432803012645Ac136ddd64DBA72
    """
    addr = normalize_address(address, "address")
    with _client(node) as client:
        record = client.get(f"/nodes/{addr}")
    emit(record, as_json=want_json(as_json), human=_human)


def _human(n: dict[str, Any]) -> str:
    return pairs(
        {
            "address": n["address"],
            "gpu": n["gpu"],
            "env": n["env"],
            "collateral": format_amount(int(n["collateral"])) + " NNET",
            "locked": format_amount(int(n["locked"])) + " NNET",
            "reputation": n["reputation"],
            "verified work": n["verified_work"],
            "proofs": f"{n['proofs_ok']} ok, {n['proofs_rejected']} rejected",
        }
    )
