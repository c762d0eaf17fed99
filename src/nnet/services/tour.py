"""Drives real `nnet` processes for `nnet quickstart` and the end-to-end tests.

A Tour owns a throwaway NNET_HOME and at most one daemon subprocess. Each step runs the very
command a user would type (`python -m nnet ...`, joined by real pipes where a user would pipe),
narrates it on stderr, and parses its JSON output. Leaving the `with` block always stops the
daemon, so nothing is left running after a success, a failure or Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from nnet.errors import NnetError
from nnet.poll import poll_until

__all__ = ["StepFailed", "Tour"]

_CLEAN_ENV = ("NNET_KEY", "NNET_NODE", "NNET_CHAIN", "NNET_FEE", "NNET_DEBUG")
T = TypeVar("T")


class StepFailed(NnetError):
    """A command of the tour exited with an unexpected code (or its daemon died)."""


class Tour:
    """Runs nnet commands against one home; use as a context manager."""

    def __init__(
        self,
        home: Path,
        *,
        password: str = "quickstart",
        narrate: IO[str] | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        self.home = home
        self.out = narrate if narrate is not None else sys.stderr
        self.timeout_s = timeout_s
        env = {k: v for k, v in os.environ.items() if k not in _CLEAN_ENV}
        env.update(NNET_HOME=str(home), NNET_PASSWORD=password, PYTHONUNBUFFERED="1")
        self.env = env
        self.daemon: subprocess.Popen[bytes] | None = None
        self.daemon_log: Path = home / "daemon.log"
        self.url = ""
        self.addresses: dict[str, str] = {}

    # ---- narration -----------------------------------------------------------------------------
    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def act(self, title: str) -> None:
        self.say(f"\n== {title} ==")

    # ---- commands ------------------------------------------------------------------------------
    def _argv(self, args: Sequence[str]) -> list[str]:
        return [sys.executable, "-m", "nnet", *args]

    def _env(self, key: str | None) -> dict[str, str]:
        env = dict(self.env)
        if key:
            env["NNET_KEY"] = key
        if self.url:
            env["NNET_NODE"] = self.url
        return env

    def run(
        self,
        *args: str,
        key: str | None = None,
        input: str | None = None,
        expect: int = 0,
        quiet: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run `nnet ARGS` (as KEY); fail unless it exits with `expect`."""
        if not quiet:
            who = f"[{key}] " if key else ""
            self.say(f"$ {who}nnet {shlex.join(args)}")
        proc = subprocess.run(
            self._argv(args),
            input=input,
            capture_output=True,
            text=True,
            env=self._env(key),
            timeout=self.timeout_s,
        )
        if proc.returncode != expect:
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output"
            raise StepFailed(
                f"`nnet {shlex.join(args)}` exited {proc.returncode} (expected {expect}): "
                f"{last}{self._daemon_death()}"
            )
        return proc

    def _daemon_death(self) -> str:
        """If the daemon has exited, its exit code and the end of its log, for the error."""
        if self.daemon is None or self.daemon.poll() is None:
            return ""
        log = (
            self.daemon_log.read_text(errors="replace")[-1500:] if self.daemon_log.exists() else ""
        )
        return f"\n(the daemon exited with {self.daemon.returncode}; its log ends:\n{log})"

    def json(
        self,
        *args: str,
        key: str | None = None,
        input: str | None = None,
        expect: int = 0,
        quiet: bool = False,
    ) -> Any:
        """Run and parse stdout: one JSON value, or a list when it prints several lines."""
        out = self.run(*args, key=key, input=input, expect=expect, quiet=quiet).stdout
        values = [json.loads(line) for line in out.splitlines() if line.strip()]
        return values[0] if len(values) == 1 else values

    def pipe(self, *commands: Sequence[str], key: str | None = None, expect: int = 0) -> Any:
        """`nnet A | nnet B | ...` through real OS pipes; the last command's JSON output."""
        self.say(
            "$ "
            + (f"[{key}] " if key else "")
            + " | ".join("nnet " + shlex.join(c) for c in commands)
        )
        env = self._env(key)
        procs: list[subprocess.Popen[str]] = []
        prev: IO[str] | None = None
        for i, cmd in enumerate(commands):
            last = i == len(commands) - 1
            p = subprocess.Popen(
                self._argv(cmd),
                stdin=prev,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            if prev is not None:
                prev.close()  # so the writer sees a closed pipe if the reader exits
            prev = p.stdout if not last else None
            procs.append(p)
        out, err = procs[-1].communicate(timeout=self.timeout_s)
        codes = [p.wait(timeout=self.timeout_s) for p in procs]
        if codes[-1] != expect or any(codes[:-1]):
            raise StepFailed(
                f"pipe exited {codes} (expected last {expect}): {err.strip()}{self._daemon_death()}"
            )
        values = [json.loads(line) for line in out.splitlines() if line.strip()]
        return values[0] if len(values) == 1 else values

    # ---- the daemon ----------------------------------------------------------------------------
    def start_daemon(self, *, block_time: float = 0.2) -> str:
        """Start `nnet daemon` on a free loopback port; returns its URL once it listens."""
        self.say(f"$ nnet daemon --listen 127.0.0.1:0 --block-time {block_time} &")
        info = self.home / "daemon.json"
        info.unlink(missing_ok=True)
        log = self.daemon_log.open("wb")
        self.daemon = subprocess.Popen(
            self._argv(["daemon", "--listen", "127.0.0.1:0", "--block-time", str(block_time)]),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._env(None),
        )
        daemon = self.daemon

        def listening() -> str | None:
            if daemon.poll() is not None:
                raise StepFailed(f"the daemon exited: {self.daemon_log.read_text()[-400:]}")
            try:
                return str(json.loads(info.read_text())["url"])
            except (OSError, ValueError, KeyError):
                return None

        self.url = poll_until(listening, what="the daemon to listen", timeout_s=60, every_s=0.05)
        self.say(f"  listening on {self.url}")
        return self.url

    def stop_daemon(self) -> None:
        if self.daemon is None:
            return
        if self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait(timeout=15)
        self.daemon = None

    def wait_for(
        self,
        what: str,
        check: Callable[[], T | None],
        *,
        timeout_s: float = 120.0,
        every_s: float = 0.25,
    ) -> T:
        """Poll `check()` until it returns something truthy; that value (TimedOut if never)."""
        return poll_until(check, what=what, timeout_s=timeout_s, every_s=every_s)

    def __enter__(self) -> Tour:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_daemon()
