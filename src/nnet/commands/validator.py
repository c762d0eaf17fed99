"""`nnet validator`: join a network's validator set, come back from jail, list the set.

- `register --net URL`: a `validator.register` transaction carrying the BLS key derived from the
  signing key (nnet.bls.validator_secret: the same one a daemon derives from that key, so the
  node that holds it signs with the key registered), its proof of possession and the node's URL.
  The key must have at least 1 NNET bonded (`nnet stake`); it joins the set at the next epoch
  boundary if its stake is among the top `max_validators`.
- `unjail`: a `validator.unjail` after a downtime jail is served.
- `list [--height H]`: GET /validators, the set that signs a height.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nnet.commands._common import JsonOpt, NodeOpt, emit_rows, node_client, unlock
from nnet.commands._txflow import TxOptions, command_with_tx_options, issue, tx_command

app = typer.Typer(
    help="Join a network's validator set, unjail, list the set.", no_args_is_help=True
)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="validator")
    command_with_tx_options(app, "register", register_validator)
    tx_command(app, "unjail", "validator.unjail", unjail)


def register_validator(
    net: Annotated[
        str, typer.Option("--net", help="This validator's node URL, e.g. http://10.0.0.5:7654.")
    ],
    opts: TxOptions,
) -> None:
    """Register the signing key as a validator: its BLS key (derived from it), the key's proof
    of possession and the node's URL. Bond stake first; the set changes at epoch boundaries.

    Example: nnet validator register --net http://10.0.0.5:7654 --send --wait
    """
    from nnet import bls

    if not net.startswith(("http://", "https://")) or len(net) > 200:
        from nnet.errors import UsageError

        raise UsageError("--net must be an http(s):// URL of at most 200 characters")
    sender, secret = unlock(opts.key, opts.password_file)
    sk = bls.validator_secret(secret)
    body = {
        "bls_key": "0x" + bls.sk_to_pk(sk).hex(),
        "pop": "0x" + bls.pop_prove(sk, sender).hex(),
        "net": net.rstrip("/"),
    }
    issue("validator.register", body, opts)


def unjail() -> dict[str, Any]:
    """Leave the jail a downtime put this validator in (once its jail epochs are served); it
    rejoins the set at the next epoch boundary.

    Example: nnet validator unjail --send --wait
    """
    return {}


@app.command("list")
def list_validators(
    height: Annotated[
        int | None, typer.Option("--height", min=1, help="The height whose signers to show.")
    ] = None,
    node: NodeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The validator set that signs a height (default: the next block), with power and URL.

    Example: nnet validator list --json | jq .power
    """
    with node_client(node) as client:
        answer = client.get("/validators", **({"height": height} if height else {}))
    total = int(answer.get("total_power") or 0) or 1
    rows = [{**v, "share": f"{100 * int(v['power']) / total:.1f} %"} for v in answer["validators"]]
    columns = [("address", "address"), ("power", "power"), ("share", "share"), ("net", "net")]
    emit_rows(rows, columns, as_json)
