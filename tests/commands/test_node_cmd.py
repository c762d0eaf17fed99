"""`nnet node register`: the environment class is measured, never free text; --env takes only a
canonical class; and a real daemon records the class the command sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nnet.proof.envclass import measure_environment, parse_env_class
from nnet.tx import parse_tx
from tests.conftest import RunCli

H100 = "cuda/sm90/cuda-13.0/cudnn-91900/torch-2.11.0+cu130"


def new_key(run_cli: RunCli, name: str = "alice") -> str:
    r = run_cli("key", "new", name, "--light-kdf", "--json")
    assert r.exit_code == 0, r.stderr
    return str(json.loads(r.stdout)["address"])


def registered_env(run_cli: RunCli, *args: str) -> tuple[str, str]:
    """The env of the node.register tx that `nnet node register ARGS` signs, and its stderr."""
    r = run_cli("node", "register", "--gpu", "cpu", "--nonce", "0", *args)
    assert r.exit_code == 0, r.stderr
    tx = parse_tx(json.loads(r.stdout))
    tx.verify_signature()
    assert tx.type == "node.register"
    return str(tx.body["env"]), r.stderr


def test_the_default_is_the_class_measured_on_this_machine(run_cli: RunCli, password: str) -> None:
    import torch

    new_key(run_cli)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    env, stderr = registered_env(run_cli)
    assert env == measure_environment(device, 1)["class"]
    assert parse_env_class(env).device == device
    assert f"environment class {env} (measured on this machine)" in stderr
    # the device and the thread count are measured as asked
    env, _ = registered_env(run_cli, "--device", "cpu", "--threads", "8")
    assert env == measure_environment("cpu", 8)["class"]
    assert parse_env_class(env).threads == 8


def test_env_takes_a_canonical_class(run_cli: RunCli, password: str) -> None:
    new_key(run_cli)
    env, stderr = registered_env(run_cli, "--env", H100)
    assert env == H100
    assert f"environment class {H100} (from --env" in stderr


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ("my-private-class", "device 'my-private-class'"),
        ("cpu/test", "a cpu class has 7 fields"),
        ("cuda/9.0/13.0/91900/2.11.0/t0", "a cuda class has 5 fields"),
        (H100.upper(), "device 'CUDA'"),
        (H100 + "\n", "'\\n'"),
        (H100.replace("cudnn-91900", "cudnn-"), "cudnn 'cudnn-'"),
        ("cpu/linux/x86_64/GenuineIntel/AVX512/torch-2.13.0+cpu/t0", "threads 't0'"),
    ],
)
def test_env_refuses_anything_not_canonical(
    run_cli: RunCli, password: str, env: str, named: str
) -> None:
    new_key(run_cli)
    r = run_cli("node", "register", "--gpu", "H100", "--env", env, "--nonce", "0")
    assert r.exit_code == 2
    assert r.stdout == ""  # nothing signed
    assert "--env: environment class" in r.stderr and named in r.stderr


def test_bad_device_or_threads_are_usage_errors(run_cli: RunCli, password: str) -> None:
    new_key(run_cli)
    r = run_cli("node", "register", "--gpu", "cpu", "--device", "tpu", "--nonce", "0")
    assert r.exit_code == 2 and "--device must be one of auto, cpu, cuda" in r.stderr
    r = run_cli("node", "register", "--gpu", "cpu", "--threads", "0", "--nonce", "0")
    assert r.exit_code == 2 and r.stdout == ""


# ---- against a real daemon ---------------------------------------------------------------------
@pytest.fixture
def daemon(run_cli: RunCli, nnet_home: Path, password: str) -> Iterator[tuple[str, str]]:
    """A devnet daemon in NNET_HOME with a funded key bob."""
    from nnet.node.server import DaemonOptions
    from tests.node.conftest import start_daemon

    bob = new_key(run_cli, "bob")
    r = run_cli("devnet", "init", "--json", "--fund", f"{bob}=1000")
    assert r.exit_code == 0, r.stderr
    d, thread = start_daemon(DaemonOptions(home=nnet_home, port=0, block_time_s=0.05))
    try:
        yield d.url, bob
    finally:
        d.stop()
        thread.join(timeout=10)


def test_the_chain_records_the_measured_class(run_cli: RunCli, daemon: tuple[str, str]) -> None:
    url, bob = daemon
    r = run_cli(
        "node", "register", "--gpu", "cpu", "--device", "cpu", "--collateral", "5",
        "--key", "bob", "--node", url, "--send", "--wait",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    node = json.loads(run_cli("node", "show", bob, "--node", url, "--json").stdout)
    assert node["env"] == measure_environment("cpu", 1)["class"]
