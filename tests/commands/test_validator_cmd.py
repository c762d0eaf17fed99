"""`nnet validator register / unjail` offline: the transaction a chain would take, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnet import bls
from nnet.keys import KeyStore
from tests.conftest import RunCli


@pytest.fixture
def alice(run_cli: RunCli, password: str) -> str:
    r = run_cli("key", "new", "alice", "--light-kdf", "--json")
    return str(json.loads(r.stdout)["address"])


def test_register_carries_the_bls_key_a_daemon_derives_from_the_same_key(
    run_cli: RunCli, alice: str, password: str, nnet_home: Path
) -> None:
    r = run_cli("validator", "register", "--net", "http://10.0.0.5:7654/", "--nonce", "0")
    assert r.exit_code == 0, r.stderr
    tx = json.loads(r.stdout)
    assert tx["type"] == "validator.register" and tx["from"] == alice
    body = tx["body"]
    key = bytes.fromhex(body["bls_key"][2:])
    sk = bls.validator_secret(KeyStore(nnet_home).secret("alice", password))
    assert key == bls.sk_to_pk(sk)  # what nnet daemon signs with, from this key
    assert bls.pop_verify(key, bytes.fromhex(body["pop"][2:]), alice)
    assert body["net"] == "http://10.0.0.5:7654"
    assert run_cli("tx", "verify", "-", input=r.stdout).exit_code == 0


def test_register_refuses_a_net_that_is_not_a_url(run_cli: RunCli, alice: str) -> None:
    r = run_cli("validator", "register", "--net", "10.0.0.5:7654", "--nonce", "0")
    assert r.exit_code == 2 and "http" in r.stderr and r.stdout == ""


def test_unjail_is_an_empty_signed_transaction(run_cli: RunCli, alice: str) -> None:
    r = run_cli("validator", "unjail", "--nonce", "4")
    assert r.exit_code == 0, r.stderr
    tx = json.loads(r.stdout)
    assert (tx["type"], tx["body"], tx["nonce"]) == ("validator.unjail", {}, 4)
