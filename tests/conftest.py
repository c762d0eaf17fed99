"""Shared fixtures: an isolated NNET_HOME per test and an in-process `nnet` runner."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from nnet.cli import main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def lines(self) -> list[str]:
        return [ln for ln in self.stdout.splitlines() if ln.strip()]


@pytest.fixture(autouse=True)
def nnet_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own NNET_HOME and no settings leak in from the environment."""
    home = tmp_path / "nnet-home"
    monkeypatch.setenv("NNET_HOME", str(home))
    for var in ("NNET_KEY", "NNET_NODE", "NNET_CHAIN", "NNET_FEE", "NNET_PASSWORD", "NNET_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return home


class RunCli(Protocol):
    """The `run_cli` fixture: `run_cli("key", "new", "alice", input="...", env={...})`."""

    def __call__(
        self, *args: str, input: str = "", env: dict[str, str] | None = None
    ) -> Result: ...


def invoke_main(args: list[str], input: str = "") -> Result:
    """`nnet ARGS` through nnet.cli.main in this process, stdin/stdout/stderr swapped for the call
    (and put back whatever happens); the exit code as a shell would see it."""
    out, err = io.StringIO(), io.StringIO()
    streams = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(input), out, err
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run `nnet ARGS...` in this process, as a user would; returns exit code, stdout, stderr."""

    def run(*args: str, input: str = "", env: dict[str, str] | None = None) -> Result:
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        return invoke_main(list(args), input)

    return run


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    """A password given the scripted way (NNET_PASSWORD), so nothing prompts."""
    monkeypatch.setenv("NNET_PASSWORD", "correct horse")
    return "correct horse"
