"""`nnet devnet init | up | down`: a local chain under NNET_HOME (one sequencer, or a network of
validators under HOME/devnet), and its daemons started and stopped."""

from __future__ import annotations

from typing import Annotated

import typer

from nnet.commands._common import (
    ChainOpt,
    JsonOpt,
    emit,
    emit_line,
    emit_rows,
    note,
    pairs,
    want_json,
)
from nnet.config import home_dir, resolve
from nnet.errors import UsageError

app = typer.Typer(help="Set up a local development chain.", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="devnet")


def _parse_params(items: list[str]) -> dict[str, int]:
    """--param NAME=VALUE, written as for `nnet vote propose param` and checked against bounds."""
    from nnet.commands.vote import parse_param_value

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--param {item!r} is not NAME=VALUE")
        out[name.strip()] = parse_param_value(name.strip(), value.strip())
    return out


def _parse_fund(items: list[str]) -> dict[str, int]:
    from nnet.crypto import normalize_address
    from nnet.encoding import parse_amount

    funds: dict[str, int] = {}
    for item in items:
        addr, sep, amount = item.partition("=")
        if not sep:
            raise UsageError(f"--fund {item!r} is not ADDR=AMOUNT", hint="e.g. --fund 0xAb…=1000")
        address = normalize_address(addr.strip(), "--fund address")
        if address in funds:
            raise UsageError(f"--fund names {address} twice")
        funds[address] = parse_amount(amount)
    return funds


@app.command("init")
def init(
    validators: Annotated[
        int,
        typer.Option(
            "--validators",
            min=1,
            max=100,
            help="Validators: 1 is a single sequencer home; N >= 2 makes a network of N nodes "
            "under HOME/devnet (start it with `nnet devnet up`).",
        ),
    ] = 1,
    fund: Annotated[
        list[str] | None,
        typer.Option("--fund", help="ADDR=AMOUNT in NNET, paid from the public pool (repeatable)."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace an existing genesis, chain database, validator keys and network.",
        ),
    ] = False,
    chain: ChainOpt = None,
    epoch_blocks: Annotated[
        int, typer.Option("--epoch-blocks", min=2, help="Blocks per epoch.")
    ] = 100,
    unbonding_epochs: Annotated[
        int,
        typer.Option("--unbonding-epochs", min=0, help="Full epochs unstaked tokens stay locked."),
    ] = 2,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="NAME=VALUE for any governance parameter (repeatable), "
            "e.g. market_attest_epochs=4 or target_inflation=5%.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write HOME/genesis.json and the sequencer key (light scrypt; password in a 0600 file).

    The supply (1e9 NNET) goes into the six pools of ECONOMICS.md; validators get a genesis stake
    of 1e6 NNET each and --fund amounts, both out of the public pool. Then run `nnet daemon`, or
    `nnet devnet up`. With --validators N (N >= 2) it writes a network instead: HOME/devnet/node-0
    … node-{N-1}, each a node home with its own `validator` key (password in validator.password,
    0600), and one genesis naming every validator's BLS key; `nnet devnet up` starts them.

    Example: nnet devnet init --fund 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC=1000
    """
    from nnet.services.devnet import DEFAULT_CHAIN, DevnetOptions, init_devnet

    options = DevnetOptions(
        chain=resolve("chain", chain) or DEFAULT_CHAIN,
        validators=validators,
        fund=_parse_fund(fund or []),
        params=_parse_params(param or []),
        epoch_blocks=epoch_blocks,
        unbonding_epochs=unbonding_epochs,
        force=force,
    )
    info = init_devnet(home_dir(), options)
    start = "`nnet devnet up`" if info.nodes else "`nnet daemon` or `nnet devnet up`"
    note(f"devnet {info.chain} initialised in {info.home}; start it with {start}")
    emit(info.to_dict(), as_json=want_json(as_json), human=pairs)


@app.command("up")
def up(
    block_time: Annotated[
        float | None,
        typer.Option(
            "--block-time",
            min=0.0,
            help="Seconds between blocks, passed to every daemon (network: the pause after "
            "each decision).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start the devnet of HOME in the background: one daemon per node on a free loopback port.

    A network (`nnet devnet init --validators N`) starts node-0 … node-{N-1}, each gossiping with
    all the others; a single home starts its sequencer. Waits until every node answers
    GET /health, then prints one JSON line per node {"name", "url", "pid"} on stdout (always
    JSON, for scripts) and a summary on stderr. Logs go to each node home's daemon.log. Client
    commands run with this NNET_HOME talk to node-0. Stop it with `nnet devnet down`.

    Example: nnet devnet init --validators 4 && nnet devnet up --block-time 0.5
    """
    from nnet.services.devnet_proc import up as start

    del as_json  # the node lines are JSON either way
    nodes = start(home_dir(), block_time=block_time)
    for node in nodes:
        emit_line({"name": node.name, "url": node.url, "pid": node.pid})
    note(
        f"{len(nodes)} node{'s' if len(nodes) > 1 else ''} up; client commands reach "
        f"{nodes[0].name} at {nodes[0].url}; stop with `nnet devnet down`"
    )


@app.command("down")
def down(
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.0, help="Seconds to wait after SIGTERM before SIGKILL."),
    ] = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Stop the daemons `nnet devnet up` started on HOME: SIGTERM, then SIGKILL after --timeout.

    Prints what happened to each node {"name", "pid", "stopped"}: "term" (stopped cleanly), "kill"
    (needed SIGKILL) or "gone" (was not running). With nothing running it says so and exits 0.

    Example: nnet devnet down --json
    """
    from nnet.services.devnet_proc import down as stop

    stops = stop(home_dir(), timeout_s=timeout)
    if not stops:
        note("nothing is running")
        return
    emit_rows(
        [s.to_dict() for s in stops],
        [("NODE", "name"), ("PID", "pid"), ("STOPPED", "stopped")],
        as_json,
    )
