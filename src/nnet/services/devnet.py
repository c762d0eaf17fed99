"""A local development chain under NNET_HOME: genesis, validator keys, the sequencer's password.

`init_devnet` is what `nnet devnet init` does once its flags are parsed, and what test fixtures
call directly to get a chain a daemon can run: HOME/genesis.json, one light-scrypt key per
validator under HOME/node/keys (the first is the sequencer), and the keys' password in a 0600 file
so the daemon unlocks the sequencer unattended.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnet.config import node_keys_home, running_daemon
from nnet.errors import MalformedInput, UsageError

__all__ = ["DEFAULT_CHAIN", "VALIDATOR_STAKE_NNET", "DevnetInfo", "DevnetOptions", "init_devnet"]

DEFAULT_CHAIN = "nnet-devnet"
VALIDATOR_STAKE_NNET = 1_000_000


@dataclass(frozen=True)
class DevnetOptions:
    """What a devnet is made of, besides its home."""

    chain: str = DEFAULT_CHAIN
    validators: int = 1  # keys to make; the first is the sequencer
    fund: Mapping[str, int] = field(default_factory=dict)  # address -> base units, from public
    params: Mapping[str, int] = field(default_factory=dict)  # governance parameters at genesis
    epoch_blocks: int = 100
    unbonding_epochs: int = 2
    force: bool = False  # replace an existing genesis, chain database and validator keys


@dataclass(frozen=True)
class DevnetInfo:
    """What `init_devnet` wrote."""

    chain: str
    home: Path
    genesis: Path
    validators: list[str]  # addresses; the first is the sequencer
    funded: dict[str, int]

    @property
    def sequencer(self) -> str:
        return self.validators[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "home": str(self.home),
            "genesis": str(self.genesis),
            "sequencer": self.sequencer,
            "validators": list(self.validators),
            "funded": {a: str(v) for a, v in self.funded.items()},
        }


def init_devnet(home: Path, options: DevnetOptions | None = None) -> DevnetInfo:
    """Write HOME/genesis.json and the validators' keys (light scrypt; password in a 0600 file).

    The supply goes into the six pools of ECONOMICS.md; validators get a genesis stake of 1e6 NNET
    each and `fund` its amounts, both out of the public pool. A home that already holds a chain is
    refused unless `force` (and never while a daemon runs on it); a genesis the parameters make
    impossible is a usage error that leaves nothing behind.
    """
    from nnet.chain.genesis import make_devnet_genesis
    from nnet.encoding import UNIT
    from nnet.keys import KeyStore

    opts = options or DevnetOptions()
    names = ["sequencer"] + [f"validator-{i}" for i in range(1, opts.validators)]
    params = {"epoch_blocks": opts.epoch_blocks, "unbonding_epochs": opts.unbonding_epochs}
    params.update(opts.params)
    genesis_path = home / "genesis.json"
    if genesis_path.exists() or (home / "chain.db").exists():
        if not opts.force:
            raise UsageError(
                f"{home} already holds a chain (genesis.json or chain.db)",
                hint="pass --force to replace it, or set NNET_HOME elsewhere",
            )
        info = running_daemon(home)
        if info:
            raise UsageError(
                f"a daemon (pid {info['pid']}) is running on {home}", hint="stop it first"
            )
        _clear(home, names)
    elif opts.force:
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
            opts.chain,
            infos[0].address,
            time_ms=int(time.time() * 1000),
            validators={i.address: VALIDATOR_STAKE_NNET * UNIT for i in infos},
            fund=dict(opts.fund),
            params=params,
        )
    except MalformedInput as e:
        _clear(home, names)
        raise UsageError(e.message, hint=e.hint) from None
    genesis_path.write_text(json.dumps(genesis.to_dict(), indent=2) + "\n")
    return DevnetInfo(
        chain=opts.chain,
        home=home,
        genesis=genesis_path,
        validators=[i.address for i in infos],
        funded=dict(opts.fund),
    )


def _clear(home: Path, names: list[str]) -> None:
    """What a previous init made: the chain database, its keys and password, the genesis."""
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
    """A new file only its owner can read (mode 0600 from the start, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
