"""Offline transaction commands: transfer, tx sign/inspect/verify, and their bad inputs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import RunCli

TO = "0x8ba1f109551bD432803012645Ac136ddd64DBA72"


@pytest.fixture
def alice(run_cli: RunCli, password: str) -> str:
    r = run_cli("key", "new", "alice", "--light-kdf", "--json")
    return str(json.loads(r.stdout)["address"])


def test_transfer_prints_one_signed_line_that_verifies(run_cli: RunCli, alice: str) -> None:
    r = run_cli("transfer", TO, "12.5", "--nonce", "3", "--fee", "0.001")
    assert r.exit_code == 0, r.stderr
    (line,) = r.lines()
    tx = json.loads(line)
    assert tx["from"] == alice and tx["nonce"] == 3
    assert tx["body"] == {"to": TO, "amount": "12500000000000000000"}
    assert tx["fee"] == "1000000000000000"
    v = run_cli("tx", "verify", "-", input=line)
    assert v.exit_code == 0 and json.loads(v.stdout)["ok"] is True


def test_tampered_transaction_fails_verify_with_exit_1(run_cli: RunCli, alice: str) -> None:
    tx = json.loads(run_cli("transfer", TO, "1", "--nonce", "0").stdout)
    tx["body"]["amount"] = "9" * 20
    r = run_cli("tx", "verify", "-", input=json.dumps(tx) + "\n")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["ok"] is False and "recovers to" in r.stdout


def test_verify_streams_many_lines_and_reports_each(run_cli: RunCli, alice: str) -> None:
    good = [run_cli("transfer", TO, str(i + 1), "--nonce", str(i)).stdout for i in range(3)]
    bad = json.loads(good[1])
    bad["nonce"] = 99
    lines = good[0] + json.dumps(bad) + "\n" + good[2]
    r = run_cli("tx", "verify", "-", input=lines)
    oks = [json.loads(x)["ok"] for x in r.lines()]
    assert oks == [True, False, True] and r.exit_code == 1


def test_malformed_json_on_stdin_exits_2_naming_the_line(run_cli: RunCli, alice: str) -> None:
    good = run_cli("transfer", TO, "1", "--nonce", "0").stdout
    r = run_cli("tx", "verify", "-", input=good + '{"v": 1,\n')
    assert r.exit_code == 2
    assert "line 2" in r.stderr and "invalid JSON" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("amount", ["1.5e3", "-- -4", "0.0000000000000000001", "abc"])
def test_bad_amounts_are_refused(run_cli: RunCli, alice: str, amount: str) -> None:
    args = ["transfer", TO, *amount.split(" "), "--nonce", "0"]
    r = run_cli(*args)
    assert r.exit_code == 2 and r.stdout == ""


def test_float_in_a_transaction_is_refused(run_cli: RunCli, alice: str) -> None:
    tx = json.loads(run_cli("transfer", TO, "1", "--nonce", "0").stdout)
    raw = json.dumps(tx).replace(f'"fee": "{tx["fee"]}"', '"fee": 0.5')
    assert '"fee": 0.5' in raw
    r = run_cli("tx", "verify", "-", input=raw + "\n")
    assert r.exit_code == 2 and "float" in r.stderr


def test_sign_fills_in_the_envelope(run_cli: RunCli, alice: str) -> None:
    unsigned = '{"type":"stake","body":{"amount":"10"}}\n{"type":"unstake","body":{"amount":"4"}}\n'
    r = run_cli("tx", "sign", "-", "--nonce", "5", input=unsigned)
    assert r.exit_code == 0, r.stderr
    txs = [json.loads(x) for x in r.lines()]
    assert [t["nonce"] for t in txs] == [5, 6] and all(t["from"] == alice for t in txs)
    assert run_cli("tx", "verify", "-", input=r.stdout).exit_code == 0


def test_sign_refuses_a_tx_from_another_address(run_cli: RunCli, alice: str) -> None:
    other = json.dumps({"type": "stake", "from": TO, "nonce": 0, "body": {"amount": "1"}}) + "\n"
    r = run_cli("tx", "sign", "-", input=other)
    assert r.exit_code == 1 and "does not belong" in r.stderr


def test_inspect_shows_amounts_in_nnet_and_signature_status(run_cli: RunCli, alice: str) -> None:
    line = run_cli("transfer", TO, "2.25", "--nonce", "1").stdout
    rec = json.loads(run_cli("tx", "inspect", "-", "--json", input=line).stdout)
    assert rec["body"]["amount"] == "2.25 NNET" and rec["signature"] == "valid"
    tampered = line.replace('"nonce":1', '"nonce":2')
    rec2 = json.loads(run_cli("tx", "inspect", "-", input=tampered).stdout)
    assert rec2["signature"].startswith("INVALID")


def test_missing_input_file_is_a_usage_error(run_cli: RunCli) -> None:
    r = run_cli("tx", "verify", "/nonexistent/file.ndjson")
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_no_node_means_exit_3_with_the_url(run_cli: RunCli, alice: str) -> None:
    r = run_cli("transfer", TO, "1", "--node", "http://127.0.0.1:9")
    assert r.exit_code == 3 and "http://127.0.0.1:9" in r.stderr
