"""A local development chain under NNET_HOME: genesis, validator keys, their passwords.

`init_devnet` is what `nnet devnet init` does once its flags are parsed, and what test fixtures
call directly to get a chain a daemon can run.

- One validator (the default): today's single-sequencer home. HOME/genesis.json, the sequencer's
  light-scrypt key under HOME/node/keys and its password in a 0600 file, so `nnet daemon`
  unlocks it unattended.
- N >= 2 validators: a network (NETWORK.md, "Devnet"). HOME/devnet/genesis.json names every
  validator with its BLS key and proof of possession; HOME/devnet/node-0 … node-{N-1} are full
  node homes (a copy of the genesis, a `validator` key, its password in validator.password), which
  `nnet devnet up` (services/devnet_proc.py) starts. HOME/genesis.json is the same genesis, so
  client commands run from HOME know the chain.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnet.config import node_keys_home, running_daemon
from nnet.errors import MalformedInput, UsageError

__all__ = [
    "DEFAULT_CHAIN",
    "DEVNET_DIR",
    "VALIDATOR_KEY",
    "VALIDATOR_PASSWORD",
    "VALIDATOR_STAKE_NNET",
    "DevnetInfo",
    "DevnetOptions",
    "init_devnet",
    "node_homes",
]

DEFAULT_CHAIN = "nnet-devnet"
VALIDATOR_STAKE_NNET = 1_000_000
VALIDATOR_BALANCE_NNET = 1_000  # a network validator's spendable balance at genesis
DEVNET_DIR = "devnet"  # HOME/devnet: a network's genesis, node homes and network.json
VALIDATOR_KEY = "validator"  # a network node's key, in NODE_HOME/node/keys
VALIDATOR_PASSWORD = "validator.password"
UNBOUND_NET = "http://127.0.0.1:0"  # `nnet devnet up` picks the ports; gossip goes by --peer


@dataclass(frozen=True)
class DevnetOptions:
    """What a devnet is made of, besides its home."""

    chain: str = DEFAULT_CHAIN
    validators: int = 1  # 1: a sequencer; N >= 2: a network of N nodes under HOME/devnet
    fund: Mapping[str, int] = field(default_factory=dict)  # address -> base units, from public
    params: Mapping[str, int] = field(default_factory=dict)  # governance parameters at genesis
    epoch_blocks: int = 100
    unbonding_epochs: int = 2
    force: bool = False  # replace an existing genesis, chain database, keys and network


@dataclass(frozen=True)
class DevnetInfo:
    """What `init_devnet` wrote."""

    chain: str
    home: Path
    genesis: Path
    validators: list[str]  # addresses; the first is the sequencer
    funded: dict[str, int]
    nodes: list[Path] = field(default_factory=list)  # a network's node homes; empty for one

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
            "nodes": [str(p) for p in self.nodes],
            "funded": {a: str(v) for a, v in self.funded.items()},
        }


def node_homes(home: Path) -> list[Path]:
    """The node homes of the network under HOME/devnet, in index order (none: no network)."""
    net = home / DEVNET_DIR
    found = [p for p in net.glob("node-*") if p.is_dir() and p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def init_devnet(home: Path, options: DevnetOptions | None = None) -> DevnetInfo:
    """Write a devnet: one sequencer home, or with `validators` >= 2 a network under HOME/devnet.

    The supply goes into the six pools of ECONOMICS.md; validators get a genesis stake of 1e6 NNET
    each and `fund` its amounts, both out of the public pool. A home that already holds a chain is
    refused unless `force` (and never while a daemon or a network runs on it); a genesis the
    parameters make impossible is a usage error that leaves nothing behind.
    """
    opts = options or DevnetOptions()
    if opts.validators < 1:
        raise UsageError("a devnet needs at least one validator")
    names = ["sequencer"] + [f"validator-{i}" for i in range(1, opts.validators)]
    if opts.validators > 1:
        names = []  # a network keeps its keys in its node homes
    held = [p for p in (home / "genesis.json", home / "chain.db", home / DEVNET_DIR) if p.exists()]
    if held:
        if not opts.force:
            raise UsageError(
                f"{home} already holds a chain ({held[0].name})",
                hint="pass --force to replace it, or set NNET_HOME elsewhere",
            )
        _refuse_while_running(home)
        _clear(home, names)
    elif opts.force:
        _clear(home, names)
    if opts.validators == 1:
        return _init_sequencer(home, opts)
    return _init_network(home, opts)


def _params(opts: DevnetOptions) -> dict[str, int]:
    params = {"epoch_blocks": opts.epoch_blocks, "unbonding_epochs": opts.unbonding_epochs}
    params.update(opts.params)
    return params


def _init_sequencer(home: Path, opts: DevnetOptions) -> DevnetInfo:
    """Today's single-sequencer home: HOME/genesis.json, HOME/node/keys/sequencer.json."""
    from nnet.chain.genesis import make_devnet_genesis
    from nnet.encoding import UNIT
    from nnet.keys import KeyStore

    names = ["sequencer"]
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
            params=_params(opts),
        )
    except MalformedInput as e:
        _clear(home, names)
        raise UsageError(e.message, hint=e.hint) from None
    genesis_path = home / "genesis.json"
    genesis_path.write_text(json.dumps(genesis.to_dict(), indent=2) + "\n")
    return DevnetInfo(
        chain=opts.chain,
        home=home,
        genesis=genesis_path,
        validators=[i.address for i in infos],
        funded=dict(opts.fund),
    )


def _init_network(home: Path, opts: DevnetOptions) -> DevnetInfo:
    """N node homes under HOME/devnet, each with its `validator` key, and one genesis for all."""
    net = home / DEVNET_DIR
    net.mkdir(parents=True)
    try:
        members = [_make_validator(net / f"node-{i}") for i in range(opts.validators)]
        genesis = _network_genesis(opts, members)
    except MalformedInput as e:
        shutil.rmtree(net, ignore_errors=True)
        raise UsageError(e.message, hint=e.hint) from None
    except BaseException:
        shutil.rmtree(net, ignore_errors=True)
        raise
    text = json.dumps(genesis, indent=2) + "\n"
    nodes = [net / f"node-{i}" for i in range(opts.validators)]
    for path in [net, *nodes]:
        (path / "genesis.json").write_text(text)
    (home / "genesis.json").write_text(text)
    return DevnetInfo(
        chain=opts.chain,
        home=home,
        genesis=net / "genesis.json",
        validators=[m["address"] for m in members],
        funded=dict(opts.fund),
        nodes=nodes,
    )


def _make_validator(node_home: Path) -> dict[str, str]:
    """A node home with a new `validator` key (password in a 0600 file); its genesis entry."""
    from nnet import bls
    from nnet.keys import KeyStore

    node_home.mkdir()
    password = secrets.token_urlsafe(24)
    store = KeyStore(node_keys_home(node_home))
    key = store.create(VALIDATOR_KEY, password, light=True)
    _write_private(node_home / VALIDATOR_PASSWORD, password + "\n")
    sk = bls.validator_secret(store.secret(VALIDATOR_KEY, password))
    return {
        "address": key.address,
        "bls_key": "0x" + bls.sk_to_pk(sk).hex(),
        "pop": "0x" + bls.pop_prove(sk, key.address).hex(),
        "net": UNBOUND_NET,
    }


def _network_genesis(opts: DevnetOptions, members: list[dict[str, str]]) -> dict[str, Any]:
    """The devnet genesis of today (stakes, funds, params; the first validator as `sequencer`,
    unused by a network) plus the `validators` list that makes it a network, checked as a file
    read from disk is (every proof of possession verifies)."""
    from nnet.chain.genesis import make_devnet_genesis
    from nnet.encoding import UNIT

    genesis = make_devnet_genesis(
        opts.chain,
        members[0]["address"],
        time_ms=int(time.time() * 1000),
        validators={m["address"]: VALIDATOR_STAKE_NNET * UNIT for m in members},
        # a validator pays fees too (the evidence it reports, its registration changes)
        fund={**{m["address"]: VALIDATOR_BALANCE_NNET * UNIT for m in members}, **opts.fund},
        params=_params(opts),
        validators_info=members,
    )
    return genesis.to_dict()


def _refuse_while_running(home: Path) -> None:
    """A usage error while a daemon serves this home or any node of its network."""
    from nnet.services.devnet_proc import running_nodes

    live = running_nodes(home)
    if live:
        raise UsageError(
            f"the devnet on {home} is running ({live[0].name}, pid {live[0].pid})",
            hint="stop it first with `nnet devnet down`",
        )
    for path in [home, *node_homes(home)]:
        info = running_daemon(path)
        if info:
            raise UsageError(
                f"a daemon (pid {info['pid']}) is running on {path}", hint="stop it first"
            )


def _clear(home: Path, names: list[str]) -> None:
    """What a previous init made: the chain database, its keys and password, the genesis, and a
    network's node homes."""
    for suffix in ("", "-wal", "-shm"):
        (home / f"chain.db{suffix}").unlink(missing_ok=True)
    keys = node_keys_home(home) / "keys"
    for name in [*names, "sequencer"]:
        (keys / f"{name}.json").unlink(missing_ok=True)
    for path in keys.glob("validator-*.json"):
        path.unlink()
    (home / "sequencer.password").unlink(missing_ok=True)
    (home / "genesis.json").unlink(missing_ok=True)
    (home / "network.json").unlink(missing_ok=True)
    net = home / DEVNET_DIR
    if net.is_dir():
        shutil.rmtree(net)


def _write_private(path: Path, text: str) -> None:
    """A new file only its owner can read (mode 0600 from the start, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
