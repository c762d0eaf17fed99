"""nnet.services.devnet.init_devnet, called as the test fixtures call it (no CLI): one sequencer
home, or a network of validators under HOME/devnet."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nnet import bls
from nnet.chain.genesis import parse_genesis
from nnet.encoding import UNIT
from nnet.errors import UsageError, WrongPassword
from nnet.keys import KeyStore
from nnet.services.devnet import (
    VALIDATOR_BALANCE_NNET,
    VALIDATOR_STAKE_NNET,
    DevnetOptions,
    init_devnet,
    node_homes,
)
from tests.chain.helpers import account


def test_init_devnet_writes_a_chain_a_daemon_can_run(tmp_path: Path) -> None:
    alice = account("service-alice")
    options = DevnetOptions(fund={alice.address: 5 * UNIT}, params={"market_challenge_q": 3})
    info = init_devnet(tmp_path, options)
    genesis = parse_genesis(json.loads(info.genesis.read_text()))
    assert genesis.sequencer == info.sequencer == info.validators[0]
    assert genesis.accounts == {alice.address: 5 * UNIT}
    assert set(genesis.stakes) == set(info.validators)
    assert genesis.params["epoch_blocks"] == 100 and genesis.params["market_challenge_q"] == 3
    assert KeyStore(tmp_path / "node").names() == ["sequencer"]
    assert info.to_dict()["funded"] == {alice.address: str(5 * UNIT)}
    # one validator stays today's single-sequencer home: no network, no validators list
    assert info.nodes == [] and info.to_dict()["nodes"] == []
    assert not (tmp_path / "devnet").exists()
    assert "validators" not in json.loads(info.genesis.read_text())


def test_a_second_init_needs_force_and_a_bad_genesis_leaves_nothing(tmp_path: Path) -> None:
    first = init_devnet(tmp_path)
    with pytest.raises(UsageError, match="already holds a chain"):
        init_devnet(tmp_path)
    again = init_devnet(tmp_path, DevnetOptions(force=True))
    assert again.sequencer != first.sequencer
    too_much = {account("service-rich").address: 10**12 * UNIT}  # more than the public pool
    with pytest.raises(UsageError):
        init_devnet(tmp_path, DevnetOptions(force=True, fund=too_much))
    assert not (tmp_path / "genesis.json").exists()
    assert not (tmp_path / "sequencer.password").exists()
    assert KeyStore(tmp_path / "node").names() == []


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_network_is_n_node_homes_with_one_genesis_naming_their_bls_keys(
    tmp_path: Path,
) -> None:
    alice = account("network-alice")
    info = init_devnet(tmp_path, DevnetOptions(validators=3, fund={alice.address: 7 * UNIT}))
    net = tmp_path / "devnet"
    assert info.nodes == [net / f"node-{i}" for i in range(3)] == node_homes(tmp_path)
    assert info.genesis == net / "genesis.json"
    assert info.to_dict()["nodes"] == [str(p) for p in info.nodes]
    text = info.genesis.read_text()
    # one genesis: the network's, each node's copy, and HOME's (client commands read its chain)
    for copy in [tmp_path / "genesis.json", *(p / "genesis.json" for p in info.nodes)]:
        assert copy.read_text() == text
    raw = json.loads(text)
    members = raw["validators"]
    assert [m["address"] for m in members] == info.validators and len(set(info.validators)) == 3
    assert raw["sequencer"] == info.validators[0]  # node-0, unused in network mode
    assert raw["stakes"] == {a: str(VALIDATOR_STAKE_NNET * UNIT) for a in sorted(info.validators)}
    genesis = parse_genesis(raw)  # as the daemon reads it
    assert [v.address for v in genesis.validators] == info.validators
    fees = {a: VALIDATOR_BALANCE_NNET * UNIT for a in info.validators}  # to pay their fees
    assert genesis.accounts == {alice.address: 7 * UNIT, **fees}
    assert genesis.params["epoch_blocks"] == 100
    for node, member in zip(info.nodes, members, strict=True):
        assert member["net"] == "http://127.0.0.1:0"
        password_file = node / "validator.password"
        assert _private(password_file) and _private(node / "node" / "keys" / "validator.json")
        store = KeyStore(node / "node")
        assert store.names() == ["validator"]
        assert store.info("validator").address == member["address"]
        secret = store.secret("validator", password_file.read_text().rstrip("\n"))
        sk = bls.validator_secret(secret)
        pk = bytes.fromhex(member["bls_key"].removeprefix("0x"))
        assert pk == bls.sk_to_pk(sk) and len(pk) == bls.PK_LEN
        proof = bytes.fromhex(member["pop"].removeprefix("0x"))
        assert bls.pop_verify(pk, proof, member["address"])
    # every node has its own password, and no node can open another's key
    passwords = [(p / "validator.password").read_text().rstrip("\n") for p in info.nodes]
    assert len(set(passwords)) == 3
    with pytest.raises(WrongPassword):
        KeyStore(info.nodes[1] / "node").secret("validator", passwords[0])
    # a proof of possession is bound to its key: node-0's does not pass for node-1's
    pk1 = bytes.fromhex(members[1]["bls_key"][2:])
    assert not bls.pop_verify(pk1, bytes.fromhex(members[0]["pop"][2:]), members[1]["address"])
    # the node keys are the network's own: none in HOME's key stores
    assert KeyStore(tmp_path / "node").names() == [] and KeyStore(tmp_path).names() == []


def test_force_replaces_a_network_and_switches_between_modes(tmp_path: Path) -> None:
    first = init_devnet(tmp_path, DevnetOptions(validators=3))
    with pytest.raises(UsageError, match="already holds a chain"):
        init_devnet(tmp_path, DevnetOptions(validators=3))
    with pytest.raises(UsageError, match="already holds a chain"):
        init_devnet(tmp_path)  # a single home over a network, too
    assert node_homes(tmp_path) == first.nodes  # refused: nothing changed
    smaller = init_devnet(tmp_path, DevnetOptions(validators=2, force=True))
    assert node_homes(tmp_path) == smaller.nodes and len(smaller.nodes) == 2
    assert not set(first.validators) & set(smaller.validators)  # new keys
    single = init_devnet(tmp_path, DevnetOptions(force=True))
    assert not (tmp_path / "devnet").exists() and single.nodes == []
    assert KeyStore(tmp_path / "node").names() == ["sequencer"]
    network = init_devnet(tmp_path, DevnetOptions(validators=2, force=True))
    assert KeyStore(tmp_path / "node").names() == []  # the sequencer's key went with its home
    assert not (tmp_path / "sequencer.password").exists()
    assert json.loads((tmp_path / "genesis.json").read_text())["sequencer"] == network.sequencer


def test_a_network_genesis_that_cannot_be_leaves_nothing(tmp_path: Path) -> None:
    too_much = {account("network-rich").address: 10**12 * UNIT}
    with pytest.raises(UsageError, match="public pool"):
        init_devnet(tmp_path, DevnetOptions(validators=2, fund=too_much))
    assert not (tmp_path / "devnet").exists() and not (tmp_path / "genesis.json").exists()
    init_devnet(tmp_path, DevnetOptions(validators=2))  # and nothing stands in the way after
    with pytest.raises(UsageError, match="at least one"):
        init_devnet(tmp_path / "other", DevnetOptions(validators=0))


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose command line says it is a daemon of node-0's home (what `up`
    records), without the cost of a real daemon."""
    node0 = tmp_path / "devnet" / "node-0"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "daemon", "--home", str(node0)]
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_force_is_refused_while_the_network_runs(
    tmp_path: Path, stand_in: subprocess.Popen[bytes]
) -> None:
    info = init_devnet(tmp_path, DevnetOptions(validators=2))
    node0 = info.nodes[0]
    record = [
        {"name": "node-0", "url": "http://127.0.0.1:1", "pid": stand_in.pid, "home": str(node0)}
    ]
    (tmp_path / "devnet" / "network.json").write_text(json.dumps(record))
    with pytest.raises(UsageError, match="is running") as refused:
        init_devnet(tmp_path, DevnetOptions(validators=2, force=True))
    assert "nnet devnet down" in (refused.value.hint or "")
    assert node_homes(tmp_path) == info.nodes
    assert json.loads(info.genesis.read_text())["sequencer"] == info.sequencer  # unchanged
