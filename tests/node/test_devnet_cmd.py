"""`nnet devnet init | up | down`: genesis, keys and password files, funding, --force, a network
of validators, and the daemons started and stopped."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from nnet.chain.accounts import POOLS
from nnet.chain.genesis import DEVNET_SUPPLY, parse_genesis
from nnet.encoding import UNIT
from nnet.keys import KeyStore
from nnet.node.server import load_genesis, load_signer
from nnet.services import devnet_proc
from tests.chain.helpers import account
from tests.conftest import RunCli


def test_init_writes_genesis_key_and_private_password(run_cli: RunCli, nnet_home: Path) -> None:
    alice = account("devnet-alice")
    r = run_cli("devnet", "init", "--fund", f"{alice.address}=12.5", "--json")
    assert r.exit_code == 0, r.stderr
    record = json.loads(r.stdout)
    assert record["funded"] == {alice.address: str(12_500_000_000_000_000_000)}
    genesis = load_genesis(nnet_home / "genesis.json")
    assert genesis.sequencer == record["sequencer"] == record["validators"][0]
    assert genesis.accounts == {alice.address: 12_500_000_000_000_000_000}
    assert set(genesis.stakes) == set(record["validators"]) and len(genesis.stakes) == 1
    assert genesis.pools["public"] == DEVNET_SUPPLY * POOLS["public"] // 100 - (
        12_500_000_000_000_000_000 + 1_000_000 * UNIT
    )
    assert parse_genesis(json.loads((nnet_home / "genesis.json").read_text())) == genesis
    password = nnet_home / "sequencer.password"
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    assert stat.S_IMODE((nnet_home / "node" / "keys" / "sequencer.json").stat().st_mode) == 0o600
    keystore = json.loads((nnet_home / "node" / "keys" / "sequencer.json").read_text())
    assert keystore["crypto"]["kdfparams"]["n"] == 4096  # light scrypt
    assert KeyStore(nnet_home / "node").names() == ["sequencer"]
    assert record["nodes"] == [] and not (nnet_home / "devnet").exists()
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


def test_init_validators_n_writes_a_network(run_cli: RunCli, nnet_home: Path) -> None:
    r = run_cli("devnet", "init", "--validators", "3", "--json")
    assert r.exit_code == 0, r.stderr
    record = json.loads(r.stdout)
    nodes = [nnet_home / "devnet" / f"node-{i}" for i in range(3)]
    assert record["nodes"] == [str(p) for p in nodes]
    assert record["genesis"] == str(nnet_home / "devnet" / "genesis.json")
    genesis = json.loads((nnet_home / "genesis.json").read_text())
    assert [v["address"] for v in genesis["validators"]] == record["validators"]
    for node, address in zip(nodes, record["validators"], strict=True):
        assert KeyStore(node / "node").info("validator").address == address
        assert stat.S_IMODE((node / "validator.password").stat().st_mode) == 0o600
    assert "nnet devnet up" in r.stderr
    help_text = " ".join(run_cli("devnet", "init", "--help").stdout.split())  # unwrapped
    assert "HOME/devnet" in help_text and "N >= 2" in help_text


def test_up_prints_node_lines_and_down_stops_them(run_cli: RunCli, nnet_home: Path) -> None:
    assert run_cli("devnet", "init", "--json").exit_code == 0
    try:
        r = run_cli("devnet", "up", "--block-time", "0.2")
        assert r.exit_code == 0, r.stderr
        [line] = r.lines()  # NDJSON on stdout, the summary on stderr
        node = json.loads(line)
        assert set(node) == {"name", "url", "pid"} and node["name"] == "node-0"
        assert "nnet devnet down" in r.stderr
        assert httpx.get(f"{node['url']}/status", timeout=5).status_code == 200
        status = run_cli("status", "--json")  # client commands find it unconfigured
        assert status.exit_code == 0, status.stderr
        again = run_cli("devnet", "up")
        assert again.exit_code == 2 and "already up" in again.stderr
        stopped = run_cli("devnet", "down", "--json")
        assert stopped.exit_code == 0, stopped.stderr
        assert [json.loads(x) for x in stopped.lines()] == [
            {"name": "node-0", "pid": node["pid"], "stopped": "term"}
        ]
        assert not (nnet_home / "daemon.json").exists()
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{node['url']}/status", timeout=2)
        idle = run_cli("devnet", "down")
        assert idle.exit_code == 0 and idle.stdout == "" and "nothing is running" in idle.stderr
    finally:
        devnet_proc.down(nnet_home)  # whatever an assertion left running


def test_up_and_down_have_help_with_an_example(run_cli: RunCli) -> None:
    for verb in ("up", "down"):
        r = run_cli("devnet", verb, "--help")
        assert r.exit_code == 0 and "Example: nnet devnet" in " ".join(r.stdout.split())
    assert run_cli("devnet", "up").exit_code == 2  # no devnet in this home yet
