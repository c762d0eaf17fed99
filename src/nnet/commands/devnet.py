"""`nnet devnet init`: a genesis and a sequencer key for a local chain, under NNET_HOME."""

from __future__ import annotations

from typing import Annotated

import typer

from nnet.commands._common import ChainOpt, JsonOpt, emit, note, pairs, want_json
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
            help="Validator keys to make; the first is the sequencer.",
        ),
    ] = 1,
    fund: Annotated[
        list[str] | None,
        typer.Option("--fund", help="ADDR=AMOUNT in NNET, paid from the public pool (repeatable)."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace an existing genesis, chain database and validator keys."
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
    of 1e6 NNET each and --fund amounts, both out of the public pool. Then run `nnet daemon`.

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
    note(f"devnet {info.chain} initialised in {info.home}; start it with `nnet daemon`")
    emit(info.to_dict(), as_json=want_json(as_json), human=pairs)
