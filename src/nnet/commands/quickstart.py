"""`nnet quickstart`: the whole lifecycle on a throwaway local chain, narrated, nothing left behind.

Every step runs the real command a user would type, in its own process, joined by real pipes
(nnet.services.quickstart through nnet.services.tour); after the setup, one `nnet node run` agent
per node does every node's step. Narration goes to stderr, one summary JSON object to stdout.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from nnet.commands._common import emit_text, note


def register(parent: typer.Typer) -> None:
    parent.command("quickstart")(quickstart)


def quickstart(
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the throwaway home and print its path.")
    ] = False,
    mnist: Annotated[
        Path | None,
        typer.Option(
            "--mnist",
            help="Folder with MNIST's t10k IDX files "
            "[default: ../shared/data/mnist-t10k beside the repo, else synthetic data].",
        ),
    ] = None,
    validators: Annotated[
        int,
        typer.Option(
            "--validators",
            min=1,
            max=16,
            help="Validators: 1 is a single daemon; N >= 2 runs the tour on a network of N "
            "validator processes (`nnet devnet up`), stopped at the end.",
        ),
    ] = 1,
) -> None:
    """Run the whole lifecycle on a throwaway local chain and print a summary.

    Keys; a devnet daemon; staking; GPU nodes registering; then one node agent (nnet node run)
    per node, and only the researcher types: its job is claimed, trained, proved, challenged on
    chain, opened, replayed by the drawn verifiers' agents and paid; a cheating node's agent is
    caught and slashed; staking rewards claimed. Each step is the real command in its own
    process, narrated on stderr; every agent is stopped at the end.

    With --validators N (N >= 2) the chain is a network of N validators, each its own daemon
    process, every block final by BFT consensus: the GPU nodes' set-up goes to different
    validators and reaches the rest by gossip, the summary's "network" holds the set and its
    power, the heights finalized and `nnet block verify` of the last one, and the network is
    stopped at the end, also on a failure or Ctrl-C.

    Example: nnet quickstart | jq .honest_job
    Example: nnet quickstart --validators 4 | jq .network.verify
    """
    from nnet.services.quickstart import run_lifecycle
    from nnet.services.quickstart_net import NetworkTour
    from nnet.services.tour import Tour

    started = time.monotonic()
    data = _find_mnist(mnist)
    home = Path(tempfile.mkdtemp(prefix="nnet-quickstart-"))
    note(f"nnet quickstart: a throwaway home and chain in {home}")
    try:
        with Tour(home) if validators == 1 else NetworkTour(home, validators) as tour:
            summary = run_lifecycle(tour, data)
    finally:
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    summary["seconds"] = round(time.monotonic() - started, 1)
    if keep:
        summary["home"] = str(home)
    emit_text(json.dumps(summary, indent=2))


def _find_mnist(flag: Path | None) -> Path | None:
    from nnet.errors import UsageError

    names = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    if flag is not None:
        if not all((flag / n).is_file() for n in names):
            raise UsageError(f"{flag} does not hold {names[0]} and {names[1]}")
        return flag.resolve()
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mnist-t10k"
    return default if all((default / n).is_file() for n in names) else None
