"""`nnet quickstart --validators N`: the same tour on a throwaway network of N validators.

`NetworkTour` is a Tour whose "daemon" is a devnet network (services/devnet_proc.py): N
`nnet daemon` processes on free loopback ports, gossiping with each other, started by `up` in the
tour's home and stopped by `down` when the tour ends, whatever ends it (a failure, Ctrl-C).

While `spread` is on (the GPU nodes' staking and registration), each person's commands go to a
validator of their own (the researcher to node-0, the GPU node to node-1, ...), so transactions
enter the network at every node and reach the others by gossip. Otherwise they go to node-0:
the job's blobs are uploaded there, and a job's labels file is not among the blobs validators
fetch before voting (only what a transaction names: its spec and dataset), so an agent on
another node could not find it.

`act_network` shows the set that signs (validators and their power), `act_finality` the heights
finalized, every node's agreement on the last one, and `nnet block verify` of it: the light-client
check of its commit certificate against the set (services/finality.py).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from nnet.services.devnet_proc import NodeProc, down, running_nodes, up
from nnet.services.tour import StepFailed, Tour

if TYPE_CHECKING:
    from nnet.client import NodeClient

__all__ = ["MAX_VALIDATORS", "NetworkTour", "act_finality", "act_network"]

MAX_VALIDATORS = 16  # daemons a quickstart starts on one machine
LOG_TAIL_CHARS = 1500  # of a dead node's daemon.log, in the error that reports it


class NetworkTour(Tour):
    """A Tour over a network of `validators` nodes; see the module docstring."""

    def __init__(
        self,
        home: Path,
        validators: int,
        *,
        password: str = "quickstart",
        narrate: IO[str] | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        if not 2 <= validators <= MAX_VALIDATORS:
            raise ValueError(f"a network tour has 2 to {MAX_VALIDATORS} validators")
        super().__init__(home, password=password, narrate=narrate, timeout_s=timeout_s)
        self.validators = validators
        self.nodes: list[NodeProc] = []
        self._homes: dict[str, str] = {}  # actor -> the node its commands reach when spread
        self.spread = False

    def node_of(self, key: str | None, *, spread: bool = True) -> NodeProc:
        """The validator of KEY's own (each new actor the next node, in turn) when `spread`;
        node-0 otherwise."""
        if key is None or not spread:
            return self.nodes[0]
        if key not in self._homes:
            self._homes[key] = self.nodes[len(self._homes) % len(self.nodes)].name
        return next(n for n in self.nodes if n.name == self._homes[key])

    def _env(self, key: str | None) -> dict[str, str]:
        env = super()._env(key)
        if self.nodes:
            env["NNET_NODE"] = self.node_of(key, spread=self.spread).url
        return env

    def start_daemon(self, *, block_time: float = 0.2) -> str:
        """`nnet devnet up` in the tour's home: every node up and answering; node-0's URL."""
        self.say(f"$ nnet devnet up --block-time {block_time}")
        self.nodes = up(self.home, block_time=block_time)
        self.url = self.nodes[0].url
        for n in self.nodes:
            self.say(f"  {n.name} listening on {n.url} (pid {n.pid})")
        return self.url

    def stop_daemon(self) -> None:
        """`nnet devnet down`: every node of the network stopped (SIGTERM, then SIGKILL)."""
        if not self.nodes and not running_nodes(self.home):
            return
        stops = down(self.home)
        self.nodes = []
        if stops:
            how = ", ".join(f"{s.name} {s.stopped}" for s in stops)
            self.say(f"$ nnet devnet down\n  stopped: {how}")

    def _daemon_death(self) -> str:
        """The nodes that have exited, each with the end of its log, for the error."""
        if not self.nodes:
            return ""
        alive = {n.pid for n in running_nodes(self.home)}
        dead = [n for n in self.nodes if n.pid not in alive]
        parts = []
        for n in dead:
            log = n.home / "daemon.log"
            tail = log.read_text(errors="replace")[-LOG_TAIL_CHARS:] if log.exists() else ""
            parts.append(f"\n({n.name}, pid {n.pid}, has exited; its log ends:\n{tail})")
        return "".join(parts)


def act_network(tour: NetworkTour) -> dict[str, Any]:
    """The validator set that signs the next block, with each node's name, URL and power."""
    tour.act(f"the network: {tour.validators} validators, each its own process")
    status = tour.json("status", "--json")
    vset = _validators(tour)
    total = int(vset["total_power"])
    members = _by_node(tour, vset["validators"])
    for m in members:
        tour.say(
            f"  {m['name']}  {m['address']}  power {m['power']:,} "
            f"({100 * m['power'] / total:.0f} % of {total:,})"
        )
    tour.say(
        f"  a block is final once validators holding more than 2/3 of the power precommit it; "
        f"node-0 is at height {status['height']}"
    )
    for key in tour.addresses:  # in turn: the researcher node-0, the GPU node node-1, ...
        tour.node_of(key)
    tour.say(
        "  the nodes' set-up goes to a validator of their own and reaches the others by gossip: "
        + ", ".join(f"{k} -> {tour.node_of(k).name}" for k in tour.addresses if k != "researcher")
    )
    return {
        "validators": [{k: m[k] for k in ("name", "url", "address", "power")} for m in members],
        "total_power": total,
        "validators_hash": vset["hash"],
        "first_height": int(status["height"]),
    }


def _validators(tour: NetworkTour) -> dict[str, Any]:
    from nnet.client import NodeClient

    with NodeClient(tour.url) as client:
        return client.get("/validators")


def _by_node(tour: NetworkTour, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The set's members, each named by the devnet node whose key it is (in node order)."""
    from nnet.config import node_keys_home
    from nnet.keys import KeyStore
    from nnet.services.devnet import VALIDATOR_KEY

    by_address = {m["address"]: m for m in members}
    out = []
    for node in tour.nodes:
        address = KeyStore(node_keys_home(node.home)).info(VALIDATOR_KEY).address
        member = by_address.get(address)
        if member is None:
            raise StepFailed(f"{node.name}'s key {address} is not in the validator set")
        out.append({"name": node.name, "url": node.url, **member})
    return out


def act_finality(tour: NetworkTour, network: dict[str, Any]) -> dict[str, Any]:
    """The heights finalized, every node's agreement on the last, and `nnet block verify` of it."""
    from nnet.client import NodeClient

    tour.act("finality: every block is final by a commit certificate anyone can check")
    status = tour.json("status", "--json", quiet=True)
    height = int(status["height"])
    lc = status.get("last_commit") or {}
    tour.say(
        f"  heights 1 to {height} finalized, {height - network['first_height']} of them while "
        f"the tour ran; the last by {lc.get('signed_power', 0):,} of "
        f"{lc.get('total_power', 0):,} power (round {lc.get('round', 0)})"
    )
    hashes = {}
    for node in tour.nodes:
        with NodeClient(node.url) as client:  # a node a block behind has it a moment later
            hashes[node.name] = tour.wait_for(
                f"{node.name} to finalize block {height}",
                partial(_block_hash, client, height),
                timeout_s=30,
                every_s=0.1,
            )
    agree = len(set(hashes.values())) == 1
    tour.say(
        f"  block {height} on every node: "
        + ("the same block, " + next(iter(hashes.values())) if agree else f"DIFFERENT: {hashes}")
    )
    report = tour.json("block", "verify", str(height), "--json")
    tour.say(
        f"  final: {report['ok']}, signed by {len(report['signers'])} validators holding "
        f"{report['signed_power']:,} of {report['total_power']:,} power; one aggregate BLS check, "
        f"{report['check_ms']:.1f} ms"
    )
    if not agree:
        raise StepFailed(f"the nodes disagree on block {height}: {hashes}")
    return {
        "last_height": height,
        "finalized": height - network["first_height"],
        "last_commit": lc,
        "agree": agree,
        "verify": report,
    }


def _block_hash(client: NodeClient, height: int) -> str | None:
    """The hash of block `height` on this node; None while it does not have it yet."""
    from nnet.errors import NotFound

    try:
        return str(client.block(height)["hash"])
    except NotFound:
        return None
