"""Fees from the command line: with no --fee a transaction pays the chain's minimum for its size
(the node's parameters, or the defaults offline), and says so on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nnet.chain.fees import DEFAULT_FEE_SCHEDULE, FeeSchedule, compute_tx_size, get_fee_schedule
from nnet.chain.genesis import compute_genesis_state, parse_genesis
from nnet.encoding import UNIT
from nnet.node.server import DaemonOptions
from nnet.tx import parse_tx
from tests.conftest import RunCli
from tests.node.conftest import start_daemon

TO = "0x8ba1f109551bD432803012645Ac136ddd64DBA72"


@pytest.fixture
def alice(run_cli: RunCli, password: str) -> str:
    r = run_cli("key", "new", "alice", "--light-kdf", "--json")
    return str(json.loads(r.stdout)["address"])


def test_offline_without_fee_pays_the_default_minimum_for_its_size(
    run_cli: RunCli, alice: str
) -> None:
    r = run_cli("transfer", TO, "1", "--nonce", "0")
    assert r.exit_code == 0, r.stderr
    tx = parse_tx(json.loads(r.stdout))
    size = compute_tx_size(tx)
    assert size == len(r.stdout.strip().encode())  # the printed line is the canonical JSON
    assert tx.fee == DEFAULT_FEE_SCHEDULE.required(size) > 0
    assert "the chain's minimum" in r.stderr and f"{size}-byte transfer" in r.stderr
    assert run_cli("transfer", TO, "1", "--nonce", "0", "--fee", "0.5").stdout.count(
        f'"fee":"{UNIT // 2}"'
    )
    explicit = run_cli("transfer", TO, "1", "--nonce", "0", env={"NNET_FEE": "0"})
    assert json.loads(explicit.stdout)["fee"] == "0"  # asked for: the chain will say no


def test_tx_sign_fills_in_the_minimum_fee(run_cli: RunCli, alice: str) -> None:
    unsigned = {"type": "transfer", "body": {"to": TO, "amount": str(10**30)}}
    r = run_cli("tx", "sign", "-", "--nonce", "12345", input=json.dumps(unsigned) + "\n")
    assert r.exit_code == 0, r.stderr
    tx = parse_tx(json.loads(r.stdout))
    assert tx.fee == DEFAULT_FEE_SCHEDULE.required(compute_tx_size(tx))
    assert run_cli("tx", "verify", "-", input=r.stdout).exit_code == 0


@pytest.fixture
def node_with_dearer_bytes(run_cli: RunCli, tmp_path: Path, alice: str) -> Iterator[str]:
    home = tmp_path / "seq"
    r = run_cli(
        "devnet",
        "init",
        "--json",
        "--fund",
        f"{alice}=10",
        "--param",
        "min_fee=0.002",
        "--param",
        "min_fee_per_byte=0.0001",
        env={"NNET_HOME": str(home)},
    )
    assert r.exit_code == 0, r.stderr
    daemon, thread = start_daemon(DaemonOptions(home=home, port=0, block_time_s=0.05))
    try:
        yield daemon.url
    finally:
        daemon.stop()
        thread.join(timeout=10)


def test_online_the_minimum_comes_from_the_nodes_params(
    run_cli: RunCli, alice: str, node_with_dearer_bytes: str, nnet_home: Path
) -> None:
    env = {"NNET_NODE": node_with_dearer_bytes, "NNET_HOME": str(nnet_home)}
    r = run_cli("transfer", TO, "1", "--send", "--wait", env=env)
    assert r.exit_code == 0, r.stderr
    receipt = json.loads(r.stdout)
    assert receipt["status"] == "committed"
    tx = parse_tx(receipt["tx"])
    dearer = FeeSchedule(2 * UNIT // 1000, UNIT // 10_000)
    assert tx.fee == dearer.required(compute_tx_size(tx)) > DEFAULT_FEE_SCHEDULE.required_for(tx)
    # the fee left the sender with the amount
    balance = run_cli("balance", alice, "--json", env=env)
    assert int(json.loads(balance.stdout)["balance"]) == 10 * UNIT - UNIT - tx.fee


def test_devnet_init_gives_a_chain_with_the_default_minimum_fee(
    run_cli: RunCli, nnet_home: Path
) -> None:
    assert run_cli("devnet", "init", "--json").exit_code == 0
    genesis = parse_genesis(json.loads((nnet_home / "genesis.json").read_text()))
    state = compute_genesis_state(genesis)
    assert get_fee_schedule(state) == DEFAULT_FEE_SCHEDULE and DEFAULT_FEE_SCHEDULE.base > 0
