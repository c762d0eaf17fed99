"""CLI.md's conventions, checked for every registered command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

from nnet.cli import build_app
from nnet.manpage import iter_commands
from tests.conftest import RunCli


def _leaf_commands() -> list[tuple[str, ...]]:
    root = typer.main.get_command(build_app())
    return [path for path, cmd, _ in iter_commands(root) if path and not hasattr(cmd, "commands")]


@pytest.mark.parametrize("path", _leaf_commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(run_cli: RunCli, path: tuple[str, ...]) -> None:
    r = run_cli(*path, "--help")
    assert r.exit_code == 0
    assert "Example:" in r.stdout, f"`nnet {' '.join(path)} --help` has no example"


NON_ML = [
    ["--help"],
    ["key", "list"],
    ["tx", "verify", "-"],
    ["config", "list"],
    ["status", "--node", "http://127.0.0.1:9"],
]


@pytest.mark.parametrize("args", NON_ML, ids=" ".join)
def test_non_ml_commands_never_import_torch(args: list[str], tmp_path) -> None:
    code = (
        "import sys\n"
        "from nnet.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n"
    )
    env = {**os.environ, "NNET_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.stderr.strip().endswith("NO-TORCH"), out.stderr


def test_errors_are_one_line_without_traceback(run_cli: RunCli) -> None:
    r = run_cli("key", "show", "nobody")
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")


def test_nnet_debug_shows_the_traceback(tmp_path) -> None:
    env = {**os.environ, "NNET_HOME": str(tmp_path), "NNET_DEBUG": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "nnet", "key", "show", "nobody"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_unknown_flag_is_a_usage_error(run_cli: RunCli) -> None:
    assert run_cli("key", "list", "--bogus").exit_code == 2


def test_real_pipe_between_processes(tmp_path) -> None:
    """`nnet transfer … | nnet tx verify -` through the shell, as a user types it."""
    env = {**os.environ, "NNET_HOME": str(tmp_path), "NNET_PASSWORD": "pw"}
    nnet = f"{sys.executable} -m nnet"
    subprocess.run(
        f"{nnet} key new alice --light-kdf",
        shell=True,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    to = "0x8ba1f109551bD432803012645Ac136ddd64DBA72"
    ok = subprocess.run(
        f"{nnet} transfer {to} 5 --nonce 0 | {nnet} tx verify -",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and '"ok":true' in ok.stdout
    bad = subprocess.run(
        f'{nnet} transfer {to} 5 --nonce 0 | sed \'s/"nonce":0/"nonce":1/\' | {nnet} tx verify -',
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
