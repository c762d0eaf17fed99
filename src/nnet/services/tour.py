"""Drives real `nnet` processes for `nnet quickstart` and the end-to-end tests.

A Tour owns a throwaway NNET_HOME, at most one daemon subprocess and the node agents (`nnet node
run`) it starts. Each step runs the very command a user would type (`python -m nnet ...`, joined by
real pipes where a user would pipe), narrates it on stderr, and parses its JSON output. Leaving the
`with` block always stops the agents and then the daemon, so nothing is left running after a
success, a failure or Ctrl-C.
"""

from __future__ import annotations

import contextlib
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
        self.agents: dict[str, subprocess.Popen[bytes]] = {}

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

    # ---- node agents ---------------------------------------------------------------------------
    def start_agent(self, name: str, *flags: str, python: Sequence[str] = ()) -> Path:
        """Start `nnet node run FLAGS` as NAME's key, its state and workdir under agents/NAME,
        logging JSON lines to agents/NAME.log (a file: a pipe left unread could stall it).
        `python` replaces `-m nnet` (e.g. `-c CODE` for a modified agent). Returns the log."""
        folder = self.home / "agents"
        folder.mkdir(exist_ok=True)
        run = [
            "node", "run", "--state", str(folder / f"{name}.db"), "--workdir",
            str(folder / name), "--log-json", *flags,
        ]  # fmt: skip
        self.say(f"$ [{name}] nnet {shlex.join(run[:2] + list(flags))} &")
        log = folder / f"{name}.log"
        argv = [sys.executable, *(python or ["-m", "nnet"]), *run]
        with log.open("ab") as out:  # appended to across restarts
            self.agents[name] = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=out, env=self._env(name)
            )
        return log

    def agent_events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines agent NAME has written so far (across its restarts)."""
        log = self.home / "agents" / f"{name}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        out = []
        for line in text.splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):  # a line being written
                    out.append(json.loads(line))
        return out

    def stop_agent(self, name: str) -> None:
        """SIGTERM agent NAME (it stops cleanly; a restart resumes); kill it if it hangs."""
        proc = self.agents.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)

    def stop_agents(self) -> None:
        for proc in self.agents.values():
            if proc.poll() is None:
                proc.terminate()
        for name in list(self.agents):
            self.stop_agent(name)

    def agent_death(self) -> str | None:
        """The name and exit code of an agent that has exited on its own, if any."""
        for name, proc in self.agents.items():
            if proc.poll() is not None:
                return f"agent {name} exited with {proc.returncode}"
        return None

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
        try:
            self.stop_agents()
        finally:
            self.stop_daemon()
