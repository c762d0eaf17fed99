"""`nnet node register|withdraw|list|show`: a compute node's registration and collateral.

A node registers its GPU and its environment class (the class a proof records, POL.md: exact-mode
jobs draw their verifiers among nodes of the prover's class) and locks collateral that job claims
draw on. Rules: docs/marketplace.md.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nnet.commands._common import (
    Column,
    JsonOpt,
    NodeOpt,
    address_of,
    emit,
    emit_rows,
    node_client,
    note,
    pairs,
    want_json,
)
from nnet.commands._listing import LimitOpt, listing
from nnet.commands._txflow import tx_command
from nnet.encoding import format_amount, parse_amount
from nnet.errors import MalformedInput, UsageError

app = typer.Typer(help="Register a compute node and manage its collateral.", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="node")


DEVICE_CHOICES = ("auto", "cpu", "cuda")


def env_class_to_register(env: str | None, device: str, threads: int) -> str:
    """--env if given (it must be canonical), else this machine's class as `nnet train` records it
    (measuring imports torch, so only then)."""
    from nnet.proof.envclass import measure_environment, parse_env_class

    if env is not None:
        try:
            env_class = str(parse_env_class(env))
        except MalformedInput as e:
            raise UsageError(
                f"--env: {e.message}",
                hint="leave --env out to register the class measured on this machine",
            ) from None
        note(f"environment class {env_class} (from --env, not measured here)")
        return env_class
    if device not in DEVICE_CHOICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICE_CHOICES)}, not {device!r}")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    env_class = str(measure_environment(device, threads)["class"])
    note(f"environment class {env_class} (measured on this machine)")
    return env_class


def register_node(
    gpu: Annotated[str, typer.Option("--gpu", help="GPU model, e.g. H100 (or cpu).")],
    device: Annotated[
        str,
        typer.Option(
            "--device",
            help="Device whose class to measure: auto (cuda when there is one), cpu or cuda.",
        ),
    ] = "auto",
    threads: Annotated[
        int,
        typer.Option(
            "--threads", min=1, max=1024, help="CPU threads of the jobs to verify (cpu classes)."
        ),
    ] = 1,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            help="Canonical environment class to register instead of measuring this machine's "
            "(e.g. one printed by `nnet node register` on the verifying machine).",
        ),
    ] = None,
    collateral: Annotated[
        str, typer.Option("--collateral", help="NNET to lock as collateral (adds to any).")
    ] = "0",
) -> dict[str, str]:
    """Register this key as a compute node (or update it, adding collateral).

    The environment class is measured on this machine (device, GPU architecture, torch, CUDA
    and cuDNN versions, or CPU family, ISA and threads) and printed on stderr; exact-mode proofs
    are verified by nodes of the prover's class.

    Example: nnet node register --gpu H100 --collateral 500 --send
    """
    env_class = env_class_to_register(env, device, threads)
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


NODE_COLUMNS: list[Column] = [
    ("ADDRESS", "address"),
    ("GPU", "gpu"),
    ("COLLATERAL", lambda n: format_amount(int(n["collateral"]))),
    ("LOCKED", lambda n: format_amount(int(n["locked"]))),
    ("REPUTATION", "reputation"),
    ("PROOFS OK", "proofs_ok"),
]


@app.command("list")
def list_(limit: LimitOpt = None, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """List registered compute nodes with collateral and reputation, by address.

    Every node, page by page, unless --limit says how many.

    Example: nnet node list --limit 50
    """
    with node_client(node) as client:
        emit_rows(listing(lambda size: client.nodes(page_size=size), limit), NODE_COLUMNS, as_json)


@app.command("show")
def show(
    address: Annotated[
        str | None, typer.Argument(help="Node address or key name (default: your key).")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", "-k", help="Key name whose node to show.")
    ] = None,
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one compute node: class, collateral, reputation, verified work.

    The node is an address, a key name (as ADDRESS or --key), or by default your signing key,
    as for `nnet balance`.

    Example: nnet node show gpu; nnet node show 0x8ba1f109551bD432803012645Ac136ddd64DBA72
    """
    addr = address_of(address, key, what="address")
    with node_client(node) as client:
        record = client.node(addr)
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
