"""`nnet job` and `nnet node`: CIDs computed from the files, mismatches refused, the right txs;
and the whole path against a real daemon (upload, submit, list, show, register, claim)."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nnet.cid import compute_cid
from nnet.encoding import UNIT
from nnet.proof.envclass import measure_environment
from nnet.proof.spec import load_spec, parse_spec
from nnet.tx import parse_tx
from tests.conftest import RunCli

GPU_ENV = "cuda/sm90/cuda-13.0/cudnn-91900/torch-2.11.0+cu130"

SPEC = """
[job]
seed = 3
steps = 20
batch_size = 8

[model]
name = "mlp"
hidden = [8]

[data]
path = "data.safetensors"
{cid_line}

[optimizer]
name = "sgd"
lr = 0.1

[checkpoint]
every = 5
"""
DATA = os.urandom(4096)


def write_spec(tmp_path: Path, cid_line: str = "") -> Path:
    (tmp_path / "data.safetensors").write_bytes(DATA)
    spec = tmp_path / "job.toml"
    spec.write_text(SPEC.format(cid_line=cid_line))
    return spec


def new_key(run_cli: RunCli, name: str = "alice") -> str:
    r = run_cli("key", "new", name, "--light-kdf", "--json")
    assert r.exit_code == 0, r.stderr
    return str(json.loads(r.stdout)["address"])


def test_submit_computes_cids_and_the_spec_hash_train_will_commit(
    run_cli: RunCli, password: str, tmp_path: Path
) -> None:
    address = new_key(run_cli)
    spec = write_spec(tmp_path)
    r = run_cli(
        "job", "submit", str(spec), "--fee", "2.5", "--verifiers", "3", "--no-upload",
        "--nonce", "4",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    tx = parse_tx(json.loads(r.stdout))
    tx.verify_signature()
    assert (tx.type, tx.sender, tx.nonce) == ("job.submit", address, 4)
    body = tx.body
    assert body["dataset_cid"] == compute_cid(DATA)
    assert body["fee"] == str(25 * UNIT // 10)
    assert (body["verifiers"], body["deadline_epochs"]) == (3, 10)
    # the spec hash is what `nnet train` records (and so what the proof's "spec" will be)
    from nnet.proof.trainer import prepare_spec

    assert body["spec_hash"] == prepare_spec(load_spec(spec)).spec_hash()


def test_submit_refuses_a_dataset_cid_that_does_not_match_its_bytes(
    run_cli: RunCli, password: str, tmp_path: Path
) -> None:
    new_key(run_cli)
    wrong = compute_cid(b"some other bytes")
    spec = write_spec(tmp_path, f'cid = "{wrong}"')
    r = run_cli("job", "submit", str(spec), "--fee", "1", "--no-upload", "--nonce", "0")
    assert r.exit_code == 1
    assert "dataset CID does not match its bytes" in r.stderr and wrong in r.stderr
    assert r.stdout == ""
    # the right CID declared is fine; a malformed one is a usage error
    offline = ("--fee", "1", "--no-upload", "--nonce", "0")
    good = write_spec(tmp_path, f'cid = "{compute_cid(DATA)}"')
    assert run_cli("job", "submit", str(good), *offline).exit_code == 0
    bad = write_spec(tmp_path, 'cid = "bafkreinot"')
    assert run_cli("job", "submit", str(bad), *offline).exit_code == 2
    (tmp_path / "data.safetensors").unlink()  # the data file is gone
    assert run_cli("job", "submit", str(tmp_path / "job.toml"), *offline).exit_code == 2


def test_node_register_builds_the_right_tx(run_cli: RunCli, password: str) -> None:
    address = new_key(run_cli)
    r = run_cli(
        "node", "register", "--gpu", "H100", "--env", GPU_ENV, "--collateral", "12.5",
        "--nonce", "1",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    tx = parse_tx(json.loads(r.stdout))
    tx.verify_signature()
    assert (tx.type, tx.sender, tx.nonce) == ("node.register", address, 1)
    assert tx.body == {
        "gpu": "H100",
        "env": GPU_ENV,
        "collateral": str(125 * UNIT // 10),
    }
    # without --env: this machine's class, as `nnet train` records it
    r = run_cli("node", "register", "--gpu", "cpu", "--device", "cpu", "--nonce", "2")
    assert r.exit_code == 0, r.stderr
    env = parse_tx(json.loads(r.stdout)).body["env"]
    assert env == measure_environment("cpu", 1)["class"]
    assert run_cli("node", "withdraw", "1", "--nonce", "3").exit_code == 0


# ---- against a real daemon ---------------------------------------------------------------------
@pytest.fixture
def daemon(run_cli: RunCli, nnet_home: Path, password: str) -> Iterator[tuple[str, str, str]]:
    """A devnet daemon in NNET_HOME with funded keys alice (submitter) and bob (a node)."""
    from nnet.node.server import DaemonOptions
    from tests.node.conftest import start_daemon

    alice, bob = new_key(run_cli, "alice"), new_key(run_cli, "bob")
    r = run_cli(
        "devnet", "init", "--json", "--epoch-blocks", "50",
        "--fund", f"{alice}=1000", "--fund", f"{bob}=1000",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    d, thread = start_daemon(DaemonOptions(home=nnet_home, port=0, block_time_s=0.05))
    try:
        yield d.url, alice, bob
    finally:
        d.stop()
        thread.join(timeout=10)


def test_submit_uploads_then_list_show_register_claim(
    run_cli: RunCli, tmp_path: Path, daemon: tuple[str, str, str]
) -> None:
    url, alice, bob = daemon
    spec = write_spec(tmp_path)
    r = run_cli(
        "job", "submit", str(spec), "--fee", "10", "--verifiers", "1", "--key", "alice",
        "--node", url, "--send", "--wait",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.lines()[-1])["status"] == "committed"
    assert "at most 0 can verify" in r.stderr  # no other node is registered yet: said up front
    job = json.loads(run_cli("job", "show", "1", "--node", url, "--json").stdout)
    assert job["status"] == "open" and job["submitter"] == alice and job["fee"] == str(10 * UNIT)
    # the spec and the data are in the node's blob store under the job's CIDs
    with httpx.Client(base_url=url) as http:
        assert http.get(f"/blobs/{job['dataset_cid']}").content == DATA
        uploaded = http.get(f"/blobs/{job['spec_cid']}").content
    assert compute_cid(uploaded) == job["spec_cid"]
    assert parse_spec(tomllib.loads(uploaded.decode())).spec_hash() == job["spec_hash"]
    listed = [json.loads(x) for x in run_cli("job", "list", "--node", url, "--json").lines()]
    assert [j["id"] for j in listed] == [1]
    assert run_cli("job", "list", "--status", "claimed", "--node", url, "--json").stdout == ""
    # bob registers as a node and claims it
    r = run_cli(
        "node", "register", "--gpu", "H100", "--collateral", "50",
        "--key", "bob", "--node", url, "--send", "--wait",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    nodes = json.loads(run_cli("node", "show", bob, "--node", url, "--json").stdout)
    assert nodes["collateral"] == str(50 * UNIT) and nodes["reputation"] == 5000
    r = run_cli("job", "claim", "1", "--key", "bob", "--node", url, "--send", "--wait")
    assert r.exit_code == 0, r.stderr
    job = json.loads(run_cli("job", "show", "1", "--node", url, "--json").stdout)
    assert job["status"] == "claimed" and job["assignee"] == bob and "blocks_left" in job
    # refused by the node (the job is taken): the error names the reason, exit 1
    r = run_cli("job", "claim", "1", "--key", "alice", "--node", url, "--send")
    assert r.exit_code == 1 and "is claimed, not open" in r.stderr
    assert run_cli("job", "show", "7", "--node", url).exit_code == 2
