"""nnet.services.devnet.init_devnet, called as the test fixtures call it (no CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnet.chain.genesis import parse_genesis
from nnet.encoding import UNIT
from nnet.errors import UsageError
from nnet.keys import KeyStore
from nnet.services.devnet import DevnetOptions, init_devnet
from tests.chain.helpers import account


def test_init_devnet_writes_a_chain_a_daemon_can_run(tmp_path: Path) -> None:
    alice = account("service-alice")
    options = DevnetOptions(
        validators=2, fund={alice.address: 5 * UNIT}, params={"market_challenge_q": 3}
    )
    info = init_devnet(tmp_path, options)
    genesis = parse_genesis(json.loads(info.genesis.read_text()))
    assert genesis.sequencer == info.sequencer == info.validators[0]
    assert genesis.accounts == {alice.address: 5 * UNIT}
    assert set(genesis.stakes) == set(info.validators)
    assert genesis.params["epoch_blocks"] == 100 and genesis.params["market_challenge_q"] == 3
    assert KeyStore(tmp_path / "node").names() == ["sequencer", "validator-1"]
    assert info.to_dict()["funded"] == {alice.address: str(5 * UNIT)}


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
