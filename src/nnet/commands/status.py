"""`nnet status`: the node's chain id, height, epoch, head, peers and mempool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from nnet.commands._common import JsonOpt, NodeOpt, emit, node_client, pairs, want_json
from nnet.errors import NodeUnreachable
from nnet.poll import poll_until

if TYPE_CHECKING:
    from nnet.client import NodeClient


def register(parent: typer.Typer) -> None:
    parent.command("status")(status)


def status(
    node: NodeOpt = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            max=3600,
            help="Seconds to wait for the node to answer (e.g. just after `nnet daemon &`).",
        ),
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Show what the node knows: chain id, height, epoch (and when it ends), head hash, peers,
    mempool size. On a terminal the head block's time shows in ISO-8601 UTC.

    Example: nnet status --wait 30 && nnet status --json | jq .height
    """

    def answered() -> tuple[NodeClient, dict[str, Any]]:
        # resolved again each time: a daemon of this home may just have started
        client = node_client(node)
        try:
            return client, client.status()
        except NodeUnreachable:
            client.close()
            raise

    client, record = poll_until(
        answered, what="the node to answer", timeout_s=wait, every_s=0.2, retry=(NodeUnreachable,)
    )
    with client:
        if want_json(as_json):
            emit(record, as_json=True)
        else:
            emit(_with_epoch_end(client, record), as_json=False, human=pairs)


def _with_epoch_end(client: NodeClient, record: dict[str, Any]) -> dict[str, Any]:
    """The status for people: plus the head block's time and when the epoch ends."""
    from nnet.commands._epoch import next_epoch_end
    from nnet.errors import NnetError

    out = dict(record)
    try:
        out["head_time_ms"] = int(client.block(int(record["height"]))["header"]["time_ms"])
        out["epoch_end"] = next_epoch_end(client, record).describe()
    except (NnetError, KeyError, TypeError, ValueError):  # an older node: show what it said
        pass
    return _network_lines(out)


def _network_lines(out: dict[str, Any]) -> dict[str, Any]:
    """A network node's consensus fields, one line each (the JSON keeps them whole)."""
    validators = out.get("validators")
    if isinstance(validators, list):
        total = out.pop("total_power", sum(int(v.get("power", 0)) for v in validators))
        out["validators"] = f"{len(validators)} (total power {total})"
    commit = out.get("last_commit")
    if isinstance(commit, dict) and commit.get("total_power"):
        share = 100 * int(commit["signed_power"]) / int(commit["total_power"])
        out["last_commit"] = (
            f"height {commit['height']} round {commit['round']}: "
            f"{commit['signed_power']}/{commit['total_power']} power signed ({share:.0f} %)"
        )
    consensus = out.get("consensus")
    if isinstance(consensus, dict):
        role = "votes" if consensus.get("validator") else "observes"
        out["consensus"] = (
            f"height {consensus.get('height')} round {consensus.get('round')} "
            f"{consensus.get('step')} (this node {role})"
        )
    if isinstance(out.get("peers"), list):
        out["peers"] = ", ".join(str(p) for p in out["peers"]) or "none"
    return out
