"""What the benchmarks share: a real `python -m nnet daemon` process, started and waited for.

Scripts under bench/ run as `python bench/bench_x.py`, so this module imports as `benchlib`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

PY = sys.executable


def start_daemon(
    home: Path, args: Sequence[str] = (), *, nofile: int | None = None, python: Sequence[str] = ()
) -> tuple[subprocess.Popen[bytes], str]:
    """`nnet daemon ARGS` for NNET_HOME=home, logging to home/daemon.log; (process, URL) once it
    listens. `nofile` caps its file descriptors (RLIMIT_NOFILE); `python` replaces the
    interpreter's command (e.g. a profiler in front of `-m nnet`)."""

    def limit() -> None:
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    env = {**os.environ, "NNET_HOME": str(home)}
    cmd = [*(python or [PY]), "-m", "nnet", "daemon", *args]
    log = open(home / "daemon.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, preexec_fn=limit)
    for _ in range(1200):
        try:
            info = json.loads((home / "daemon.json").read_text())
            if info["pid"] == proc.pid:
                return proc, str(info["url"])
        except (OSError, ValueError):
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"daemon did not start; see {home / 'daemon.log'}")
