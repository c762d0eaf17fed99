"""`nnet devnet init`: genesis, sequencer key and password file, funding, --force."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from nnet.chain.accounts import POOLS
from nnet.chain.genesis import DEVNET_SUPPLY, parse_genesis
from nnet.encoding import UNIT
from nnet.keys import KeyStore
from nnet.node.server import load_genesis, load_signer
from tests.chain.helpers import account
from tests.conftest import RunCli


def test_init_writes_genesis_key_and_private_password(run_cli: RunCli, nnet_home: Path) -> None:
    alice = account("devnet-alice")
    r = run_cli("devnet", "init", "--validators", "2", "--fund", f"{alice.address}=12.5", "--json")
    assert r.exit_code == 0, r.stderr
    record = json.loads(r.stdout)
    assert record["funded"] == {alice.address: str(12_500_000_000_000_000_000)}
    genesis = load_genesis(nnet_home / "genesis.json")
    assert genesis.sequencer == record["sequencer"] == record["validators"][0]
    assert genesis.accounts == {alice.address: 12_500_000_000_000_000_000}
    assert set(genesis.stakes) == set(record["validators"]) and len(genesis.stakes) == 2
    assert genesis.pools["public"] == DEVNET_SUPPLY * POOLS["public"] // 100 - (
        12_500_000_000_000_000_000 + 2 * 1_000_000 * UNIT
    )
    assert parse_genesis(json.loads((nnet_home / "genesis.json").read_text())) == genesis
    password = nnet_home / "sequencer.password"
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    assert stat.S_IMODE((nnet_home / "node" / "keys" / "sequencer.json").stat().st_mode) == 0o600
    keystore = json.loads((nnet_home / "node" / "keys" / "sequencer.json").read_text())
    assert keystore["crypto"]["kdfparams"]["n"] == 4096  # light scrypt
    assert KeyStore(nnet_home / "node").names() == ["sequencer", "validator-1"]
    assert KeyStore(nnet_home).names() == []  # the user's keys stay the user's
    # the daemon can unlock it unattended
    signer = load_signer(nnet_home, genesis)
    assert signer is not None


def test_second_init_needs_force(run_cli: RunCli, nnet_home: Path) -> None:
    assert run_cli("devnet", "init", "--json").exit_code == 0
    first = (nnet_home / "genesis.json").read_text()
    again = run_cli("devnet", "init", "--json")
    assert again.exit_code == 2 and "--force" in again.stderr
    assert (nnet_home / "genesis.json").read_text() == first
    forced = run_cli("devnet", "init", "--force", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)["sequencer"] != json.loads(first)["sequencer"]


def test_bad_fund_is_a_usage_error_and_writes_nothing(run_cli: RunCli, nnet_home: Path) -> None:
    alice = account("devnet-alice")
    for bad in (
        "nonsense",
        f"{alice.address}=-1",
        f"{alice.address}=1e5",
        "0x12=5",
        f"{alice.address}=999999999999",
    ):
        r = run_cli("devnet", "init", "--fund", bad)
        assert r.exit_code == 2, (bad, r.stderr)
        assert r.stderr.startswith("error:")
        assert not (nnet_home / "genesis.json").exists()
        assert KeyStore(nnet_home).names() == []
