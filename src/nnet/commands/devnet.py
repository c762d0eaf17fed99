"""`nnet devnet init`: a genesis and a sequencer key for a local chain, under NNET_HOME."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from nnet.commands._common import JsonOpt, emit, note, pairs, want_json
from nnet.config import home_dir, node_keys_home, resolve, running_daemon
from nnet.errors import UsageError

app = typer.Typer(help="Set up a local development chain.", no_args_is_help=True)

VALIDATOR_STAKE_NNET = 1_000_000


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


def _daemon_running(home: Path) -> int | None:
    info = running_daemon(home)
    return int(info["pid"]) if info else None


def _clear(home: Path, names: list[str]) -> None:
    """--force: remove what a previous init made (chain database, its keys and password)."""
    for suffix in ("", "-wal", "-shm"):
        (home / f"chain.db{suffix}").unlink(missing_ok=True)
    keys = node_keys_home(home) / "keys"
    for name in names:
        (keys / f"{name}.json").unlink(missing_ok=True)
    for path in keys.glob("validator-*.json"):
        path.unlink()
    (home / "sequencer.password").unlink(missing_ok=True)
    (home / "genesis.json").unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


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
    chain: Annotated[
        str | None, typer.Option("--chain", help="Chain id [env NNET_CHAIN, config chain].")
    ] = None,
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
    from nnet.chain.genesis import make_devnet_genesis
    from nnet.encoding import UNIT
    from nnet.errors import MalformedInput
    from nnet.keys import KeyStore

    home = home_dir()
    chain_id = resolve("chain", chain) or "nnet-devnet"
    funds = _parse_fund(fund or [])
    params = {"epoch_blocks": epoch_blocks, "unbonding_epochs": unbonding_epochs}
    params.update(_parse_params(param or []))
    names = ["sequencer"] + [f"validator-{i}" for i in range(1, validators)]
    genesis_path = home / "genesis.json"
    if genesis_path.exists() or (home / "chain.db").exists():
        if not force:
            raise UsageError(
                f"{home} already holds a chain (genesis.json or chain.db)",
                hint="pass --force to replace it, or set NNET_HOME elsewhere",
            )
        pid = _daemon_running(home)
        if pid is not None:
            raise UsageError(f"a daemon (pid {pid}) is running on {home}", hint="stop it first")
        _clear(home, names)
    elif force:
        _clear(home, names)
    store = KeyStore(node_keys_home(home))
    for name in names:
        if store.path(name).exists():
            raise UsageError(
                f"a key named {name!r} already exists in {home}",
                hint="pass --force to replace the devnet's keys",
            )
    home.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    infos = [store.create(name, password, light=True) for name in names]
    _write_private(home / "sequencer.password", password + "\n")
    try:
        genesis = make_devnet_genesis(
            chain_id,
            infos[0].address,
            time_ms=int(time.time() * 1000),
            validators={i.address: VALIDATOR_STAKE_NNET * UNIT for i in infos},
            fund=funds,
            params=params,
        )
    except MalformedInput as e:
        _clear(home, names)
        raise UsageError(e.message, hint=e.hint) from None
    genesis_path.write_text(json.dumps(genesis.to_dict(), indent=2) + "\n")
    record: dict[str, Any] = {
        "chain": chain_id,
        "home": str(home),
        "genesis": str(genesis_path),
        "sequencer": infos[0].address,
        "validators": [i.address for i in infos],
        "funded": {a: str(v) for a, v in funds.items()},
    }
    note(f"devnet {chain_id} initialised in {home}; start it with `nnet daemon`")
    emit(
        record,
        as_json=want_json(as_json),
        human=lambda r: pairs(
            {k: v if isinstance(v, str) else json.dumps(v) for k, v in r.items()}
        ),
    )
