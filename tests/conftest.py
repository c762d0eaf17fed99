"""Shared fixtures: an isolated NNET_HOME per test and an in-process `nnet` runner."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


RunCli = Callable[..., Result]


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run `nnet ARGS...` in this process, as a user would; returns exit code, stdout, stderr."""

    def run(*args: str, input: str = "", env: dict[str, str] | None = None) -> Result:
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdin", io.StringIO(input))
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finally:
            monkeypatch.setattr(sys, "stdin", sys.__stdin__)
            monkeypatch.setattr(sys, "stdout", sys.__stdout__)
            monkeypatch.setattr(sys, "stderr", sys.__stderr__)
        return Result(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    """A password given the scripted way (NNET_PASSWORD), so nothing prompts."""
    monkeypatch.setenv("NNET_PASSWORD", "correct horse")
    return "correct horse"
