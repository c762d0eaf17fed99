"""README.md's "Using it" block runs exactly as written: every line, in order, exits 0.

The block is taken from README.md (the first fenced block under "## Using it") and run by one bash,
line by line (so its variables, its `export`s and its `nnet daemon &` carry from line to line),
each line followed by a check of its exit status. It runs in a throwaway HOME (so ~/.nnet, the
default NNET_HOME, is throwaway too) and a throwaway working folder that links the repository's
`.venv` and `examples`, like a checkout. The only thing added is the daemon's
`$NNET_HOME/daemon.toml` (listen on port 0, as tests must; 0.2 s blocks), an operator's file the
README's commands read as they are. The daemon the block starts is killed at the end, whatever
happened (its whole process group).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MNIST = ROOT.parent / "shared" / "data" / "mnist-t10k"
FAILED = 97  # the exit status the script uses for "a README line failed"


def using_it_block(text: str) -> list[str]:
    """The lines of the first fenced block of the "## Using it" section."""
    section = text.split("\n## Using it", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```[a-z]*\n(.*?)```", section, re.S)
    assert match, "README.md's Using it section has no fenced block"
    return match.group(1).splitlines()


def commands(lines: list[str]) -> list[tuple[int, str]]:
    """(number within the block, line) of each line that runs something."""
    return [
        (n, ln) for n, ln in enumerate(lines, 1) if ln.strip() and not ln.lstrip().startswith("#")
    ]


def checked_script(lines: list[str]) -> str:
    """The block as one bash script that stops at the first line that does not exit 0."""
    out = ["set -o pipefail"]
    for n, line in commands(lines):
        assert not line.rstrip().endswith("\\"), f"README line {n} continues: keep lines whole"
        out.append(f"echo {shlex.quote(f'+ README {n}: {line}')} >&2")
        out.append(line)
        out.append(
            f'__rc=$?; if [ $__rc -ne 0 ]; then echo "README line {n} exited $__rc" >&2; '
            f"exit {FAILED}; fi"
        )
    return "\n".join(out) + "\n"


def test_the_block_is_read_whole() -> None:
    """The extraction finds the block and every kind of line the README uses in it."""
    lines = using_it_block(README.read_text())
    runnable = [ln for _, ln in commands(lines)]
    assert runnable[0] == ". .venv/bin/activate"
    assert any(ln.startswith("nnet daemon &") for ln in runnable)
    assert any("| nnet send" in ln for ln in runnable)
    assert "…" not in "\n".join(runnable), "a shortened address cannot be pasted"
    script = checked_script(lines)
    assert script.count(f"exit {FAILED}") == len(runnable)


def _kill_group(proc: subprocess.Popen[bytes], home: Path) -> None:
    """Stop the block's bash and everything it started (the daemon), whatever state it is in:
    its process group, and the daemon by its daemon.json pid in case it left the group."""
    daemon = None
    with contextlib.suppress(OSError, ValueError, KeyError):
        daemon = int(json.loads((home / ".nnet" / "daemon.json").read_text())["pid"])
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        if daemon is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(daemon, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and daemon is not None and _alive(daemon):
            time.sleep(0.1)
        if proc.poll() is not None and (daemon is None or not _alive(daemon)):
            return


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as gone
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


@pytest.mark.slow
def test_readme_using_it_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        pytest.skip("the README's block needs jq")
    if not (MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the README's MNIST job needs {MNIST}")
    venv = Path(sys.prefix)
    work, home = tmp_path / "checkout", tmp_path / "home"
    work.mkdir()
    (work / ".venv").symlink_to(venv)
    (work / "examples").symlink_to(ROOT / "examples")
    (home / ".nnet").mkdir(parents=True)
    (home / ".nnet" / "daemon.toml").write_text('listen = "127.0.0.1:0"\nblock_time = 0.2\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNET_")}
    env.pop("VIRTUAL_ENV", None)
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}")
    env.update(MPLBACKEND="Agg", COLUMNS="100")
    (work / "readme.sh").write_text(checked_script(using_it_block(README.read_text())))
    out, err = work / "stdout.log", work / "stderr.log"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            ["bash", "readme.sh"],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=o,
            stderr=e,
            start_new_session=True,  # its own process group: the daemon goes with it
        )
        try:
            code = proc.wait(timeout=1200)
        finally:
            _kill_group(proc, home)
    stderr = err.read_text(errors="replace")
    assert code == 0, f"README's Using it block failed (exit {code}):\n{stderr[-6000:]}"
    records = []
    for line in out.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    jobs = [r for r in records if isinstance(r, dict) and r.get("id") == 1 and "settlement" in r]
    assert jobs and jobs[-1]["status"] == "accepted", f"job 1 did not settle accepted: {jobs}"
