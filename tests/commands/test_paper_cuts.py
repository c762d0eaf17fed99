"""The paper cuts a new user hit following the README (issue 11), each held by a test: on a real
daemon (127.0.0.1, port 0) with real keystores where the cut needs a chain, on a real terminal
(a pty) where it is about what a terminal shows."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import httpx
import pytest

from nnet.commands._common import (
    check_output_path,
    format_param,
    human_value,
    iso_time,
    table,
    writing_output,
)
from nnet.commands._epoch import compute_epoch_end, format_duration
from nnet.errors import UsageError
from nnet.node.server import Daemon, DaemonOptions
from tests.conftest import RunCli
from tests.node.conftest import start_daemon

ROOT = Path(__file__).resolve().parents[2]
FEE = "1"  # an explicit transaction fee: enough for any minimum the node asks


@dataclass
class Chain:
    url: str
    http: httpx.Client
    addr: dict[str, str]
    home: Path  # the client's NNET_HOME (keys)


@pytest.fixture
def chain(
    run_cli: RunCli, password: str, nnet_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Chain]:
    """Keys alice and gpu (funded 1000 NNET each) in NNET_HOME; a sequencer in its own home."""
    addr = {}
    for name in ("alice", "gpu"):
        r = run_cli("key", "new", name, "--light-kdf", "--json")
        assert r.exit_code == 0, r.stderr
        addr[name] = json.loads(r.stdout)["address"]
    seq = tmp_path / "seq"
    monkeypatch.setenv("NNET_HOME", str(seq))
    funds = [f"--fund={a}=1000" for a in addr.values()]
    r = run_cli("devnet", "init", "--json", "--epoch-blocks", "10", *funds)
    assert r.exit_code == 0, r.stderr
    monkeypatch.setenv("NNET_HOME", str(nnet_home))
    daemon, thread = start_daemon(DaemonOptions(home=seq, port=0, block_time_s=0.05))
    monkeypatch.setenv("NNET_NODE", daemon.url)
    monkeypatch.setenv("NNET_FEE", FEE)
    http = httpx.Client(base_url=daemon.url, timeout=10)
    try:
        yield Chain(daemon.url, http, addr, nnet_home)
    finally:
        http.close()
        _stop(daemon, thread)


def _stop(daemon: Daemon, thread: threading.Thread) -> None:
    daemon.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def on_terminal(
    *args: str, columns: int = 80, env: dict[str, str] | None = None
) -> tuple[str, str]:
    """`nnet ARGS` as a real process whose stdout is a terminal (a pty); (stdout, stderr)."""
    leader, follower = pty.openpty()
    environ = {**os.environ, **(env or {}), "COLUMNS": str(columns), "NNET_DEBUG": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnet", *args],
        stdout=follower,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=environ,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    return b"".join(chunks).decode().replace("\r\n", "\n"), err.decode()


# ---- `nnet stake 100` on a terminal sends nothing: say so ----------------------------------------
def test_a_signed_tx_on_a_terminal_says_it_was_not_sent(password: str, run_cli: RunCli) -> None:
    assert run_cli("key", "new", "alice", "--light-kdf").exit_code == 0
    out, err = on_terminal("stake", "100", "--nonce", "0", "--fee", "0.01")
    assert json.loads(out.strip())["type"] == "stake"
    assert "not sent" in err and "| nnet send" in err and "--send" in err
    piped = run_cli("stake", "100", "--nonce", "0", "--fee", "0.01")  # a pipe: data only
    assert piped.exit_code == 0 and "not sent" not in piped.stderr


# ---- `nnet balance --key NAME`, `nnet node show NAME`: one resolver ------------------------------
def test_balance_takes_a_key_name_by_option_and_argument(chain: Chain, run_cli: RunCli) -> None:
    by_option = run_cli("balance", "--key", "gpu", "--json")
    assert by_option.exit_code == 0, by_option.stderr
    assert json.loads(by_option.stdout)["address"] == chain.addr["gpu"]
    by_name = run_cli("balance", "gpu", "--json")
    assert json.loads(by_name.stdout)["address"] == chain.addr["gpu"]
    both = run_cli("balance", chain.addr["alice"], "--key", "gpu")
    assert both.exit_code == 2 and "not both" in both.stderr
    missing = run_cli("balance", "--key", "nobody")
    assert missing.exit_code == 2 and "nobody" in missing.stderr


def test_node_show_takes_a_key_name(chain: Chain, run_cli: RunCli) -> None:
    r = run_cli("node", "register", "--gpu", "cpu", "--device", "cpu", "--send", "--wait",
                "--key", "gpu", "--collateral", "10")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    for args in (("gpu",), ("--key", "gpu"), (chain.addr["gpu"],)):
        shown = run_cli("node", "show", *args, "--json")
        assert shown.exit_code == 0, shown.stderr
        assert json.loads(shown.stdout)["address"] == chain.addr["gpu"]
    unknown = run_cli("node", "show", "alice", "--json")  # a key, but not a node
    assert unknown.exit_code != 0


# ---- `nnet job submit --send` without --wait: how to get the job id -----------------------------
@pytest.mark.slow
def test_job_submit_says_how_to_get_the_job_id(chain: Chain, run_cli: RunCli) -> None:
    spec = ROOT / "examples" / "mnist.toml"
    if not (ROOT.parent / "shared" / "data" / "mnist-t10k").is_dir():
        pytest.skip("examples/mnist.toml needs ../shared/data/mnist-t10k")
    base = ("job", "submit", str(spec), "--fee", "5", "--no-upload", "--send", "--key", "alice")
    r = run_cli(*base)
    assert r.exit_code == 0, r.stderr
    tx_hash = json.loads(r.stdout)["hash"]
    assert f"nnet tx show {tx_hash}" in r.stderr and "--wait" in r.stderr
    waited = run_cli(*base, "--wait")
    assert waited.exit_code == 0, waited.stderr
    events = json.loads(waited.stdout)["events"]
    job_id = next(e["job"] for e in events if e["type"] == "job.submitted")
    assert f"job {job_id} submitted" in waited.stderr


# ---- `-o` somewhere unwritable: a usage error naming the path -----------------------------------
def test_train_out_under_a_file_is_a_usage_error(run_cli: RunCli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = run_cli("train", str(ROOT / "examples" / "mnist.toml"), "-o", str(blocker / "run"))
    assert r.exit_code == 2 and str(blocker / "run") in r.stderr and "internal" not in r.stderr
    assert not (blocker.parent / "run").exists()


@pytest.mark.parametrize("flag", ["--csv", "--plot"])
def test_econ_outputs_unwritable_are_usage_errors(
    run_cli: RunCli, tmp_path: Path, flag: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    target = blocker / "out.x"
    r = run_cli("econ", "simulate", "--years", "1", flag, str(target))
    assert r.exit_code == 2, r.stderr
    assert f"{flag} {target}" in r.stderr and "internal" not in r.stderr


def test_an_output_error_met_while_writing_names_the_path(tmp_path: Path) -> None:
    """The write-time half (what a pre-check cannot foresee: a full disk, /proc, a race)."""
    out = tmp_path / "gone" / "run"
    with (
        pytest.raises(UsageError, match=re.escape(f"-o {out}: cannot write")),
        writing_output(out, "-o"),
    ):
        raise FileNotFoundError(2, "No such file or directory", str(out.parent))
    with pytest.raises(FileNotFoundError), writing_output(out, "-o"):  # an input's, not ours
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / "data.gz"))


def test_check_output_path_cases(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir()
    check_output_path(tmp_path / "new" / "deeper" / "run", "-o", folder=True)  # creatable
    check_output_path(folder, "-o", folder=True)
    with pytest.raises(UsageError, match="is a folder"):
        check_output_path(folder, "--csv")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        check_output_path(tmp_path / "f", "-o", folder=True)


# ---- tables fit the terminal; times in ISO-8601; receipts without Python reprs -------------------
def test_table_fits_the_width_and_keeps_every_character() -> None:
    meaning = "the share of collateral a node loses when its proof is rejected [share] " * 3
    rows = [("slash_verifier_share", "50%", "0%", "100%", meaning)] * 3
    text = table(rows, ("NAME", "VALUE", "MIN", "MAX", "MEANING"), width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "".join(text.split()).count("[share]") == 9  # wrapped, not cut


def test_params_table_fits_an_80_column_terminal(chain: Chain) -> None:
    out, _ = on_terminal("params", columns=80)
    lines = out.splitlines()
    assert len(lines) > 20 and max(len(line) for line in lines) <= 80
    assert "[/year]" in "".join(out.split())  # brackets are text, not rich markup


def test_times_are_iso_for_people_and_milliseconds_in_json(chain: Chain, run_cli: RunCli) -> None:
    assert iso_time(1_767_225_600_000) == "2026-01-01T00:00:00.000Z"
    assert human_value("time_ms", 1_767_225_600_123) == "2026-01-01T00:00:00.123Z"
    raw = run_cli("block", "show", "0", "--json")
    ms = json.loads(raw.stdout)["header"]["time_ms"]
    assert isinstance(ms, int)
    out, _ = on_terminal("block", "show", "0")
    assert f"time_ms: {iso_time(ms)}" in out and str(ms) not in out


def test_tx_show_renders_a_receipt_for_people(chain: Chain, run_cli: RunCli) -> None:
    sent = run_cli("transfer", chain.addr["gpu"], "2.5", "--send", "--wait", "--key", "alice")
    assert sent.exit_code == 0, sent.stderr
    tx_hash = json.loads(sent.stdout)["hash"]
    out, _ = on_terminal("tx", "show", tx_hash, columns=200)
    assert "{'" not in out and "': " not in out  # no Python dict repr
    assert "body.amount: 2.5 NNET" in out
    assert re.search(r"event 1: transfer .*amount=2\.5 NNET", out)
    assert json.loads(run_cli("tx", "show", tx_hash, "--json").stdout)["events"]


# ---- when the epoch ends ------------------------------------------------------------------------
def test_epoch_end_arithmetic() -> None:
    assert compute_epoch_end(0, 100) == (0, 99)
    assert compute_epoch_end(98, 100) == (0, 99)
    assert compute_epoch_end(99, 100) == (1, 199)  # the head closed epoch 0
    assert compute_epoch_end(100, 100) == (1, 199)
    assert [format_duration(s) for s in (4, 600, 9000)] == ["4 s", "10 min", "2.5 h"]


def test_claim_with_nothing_due_says_when_the_epoch_ends(chain: Chain, run_cli: RunCli) -> None:
    r = run_cli("claim", "--key", "alice")
    assert r.exit_code == 0, r.stderr
    record = json.loads(r.stdout)
    height = int(chain.http.get("/status").json()["height"])
    assert record["status"] == "nothing_to_claim"
    assert record["epoch_ends_at_height"] % 10 == 9 and record["epoch_ends_at_height"] >= height
    assert 0 <= record["blocks_left"] <= 10
    assert f"ends at height {record['epoch_ends_at_height']}" in r.stderr


def test_status_on_a_terminal_says_when_the_epoch_ends(chain: Chain) -> None:
    out, _ = on_terminal("status", columns=120)
    assert re.search(r"epoch_end: epoch \d+ ends at height \d+, in \d+ blocks", out)


def test_status_wait_gives_up_on_a_dead_node(run_cli: RunCli) -> None:
    r = run_cli("status", "--wait", "0.3", "--node", "http://127.0.0.1:9")
    assert r.exit_code == 3


# ---- shell completion ---------------------------------------------------------------------------
def test_shell_completion_is_enabled() -> None:
    env = {
        **os.environ,
        "_NNET_COMPLETE": "complete_bash",
        "COMP_WORDS": "nnet ke",
        "COMP_CWORD": "1",
    }
    r = subprocess.run([sys.executable, "-m", "nnet"], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split() == ["key"]
    # the shell named, not detected: typer asks shellingham for the parent shell otherwise, and
    # under make that is /bin/sh, which typer does not support
    named = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    shown = subprocess.run(
        [sys.executable, "-m", "nnet", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        env=named,
    )
    assert shown.returncode == 0 and "_NNET_COMPLETE" in shown.stdout


# ---- `nnet params` and `nnet econ params` agree -------------------------------------------------
def test_params_and_econ_params_show_a_parameter_alike() -> None:
    assert format_param("ppb", 50_000_000) == format_param("rate", Fraction(5, 100)) == "5%"
    assert format_param("ppm", 333_333) == "33.3333%"
    assert format_param("units", 10**18) == format_param("amount", 10**18) == "1 NNET"
    assert format_param("count", 7) == "7"


def test_the_two_params_commands_print_the_same_values(chain: Chain) -> None:
    node, _ = on_terminal("params", columns=400)
    econ, _ = on_terminal("econ", "params", "--defaults", columns=400)

    def values(text: str) -> dict[str, str]:
        rows = {}
        for line in text.splitlines()[1:]:
            cells = re.split(r"\s{2,}", line.strip())
            if len(cells) >= 2:
                rows[cells[0]] = cells[1]
        return rows

    ours, theirs = values(node), values(econ)
    common = set(ours) & set(theirs)
    assert {"target_inflation", "max_apy", "bonded_goal"} <= common
    assert {n: ours[n] for n in common} == {n: theirs[n] for n in common}


# ---- `make quickstart | jq`: the setup talks on stderr ------------------------------------------
STUB_PYTHON = """#!/bin/sh
# a stand-in python: `-m venv DIR` makes DIR/bin/{python,nnet}; pip is noisy on stdout
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "pip: Collecting torch ... Successfully installed"\\n' > "$3/bin/python"
  printf '#!/bin/sh\\necho "{\\\\"summary\\\\": true}"\\n' > "$3/bin/nnet"
  chmod +x "$3/bin/python" "$3/bin/nnet"
  echo "venv: created"
fi
if [ "$1 $2 $3" = "-m pip config" ]; then echo "$PIP_LISTING"; fi
"""


@pytest.fixture
def stub_python(tmp_path: Path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("no make")
    stub = tmp_path / "python-stub"
    stub.write_text(STUB_PYTHON)
    stub.chmod(0o755)
    return stub


def _user_shell_env() -> dict[str, str]:
    """The environment of a user's shell: under CI's `make test` this test runs inside make,
    and a nested make prints "Entering directory" on stdout, which no user's pipe sees."""
    return {k: v for k, v in os.environ.items() if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}}


def test_make_quickstart_prints_only_the_summary_on_a_first_run(
    stub_python: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    r = subprocess.run(
        ["make", "quickstart", f"PYTHON={stub_python}", f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**_user_shell_env(), "PIP_LISTING": ""},
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"summary": True}, r.stdout  # what `| jq` reads
    assert "setting up" in r.stderr and "Successfully installed" in r.stderr


@pytest.mark.parametrize(
    ("listing", "cpu_index"),
    [("", True), ("global.extra-index-url='file:///opt/pypi/simple'", False)],
)
def test_make_adds_the_cpu_torch_index_unless_pip_has_its_own(
    stub_python: Path, tmp_path: Path, listing: str, cpu_index: bool
) -> None:
    r = subprocess.run(
        ["make", "-n", f"PYTHON={stub_python}", f"VENV={tmp_path / 'v'}",
         f"{tmp_path / 'v'}/.installed"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PIP_LISTING": listing},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "-c constraints.txt" in r.stdout
    assert ("--extra-index-url https://download.pytorch.org/whl/cpu" in r.stdout) is cpu_index


# ---- the quickstart's narration keeps failure reasons whole -------------------------------------
def test_quickstart_narrates_reasons_whole(tmp_path: Path) -> None:
    import io

    from nnet.services.quickstart import narrate_reasons
    from nnet.services.tour import Tour

    out = io.StringIO()
    long = "segment 7: replayed weights differ from checkpoint 8 " + "x" * 300
    narrate_reasons(Tour(tmp_path, narrate=out), [long, "b", "c", "d", "e"])
    said = out.getvalue().splitlines()
    assert said[0] == f"  reason: {long}"
    assert len(said) == 4 and "2 more" in said[3]
