"""`nnet quickstart` runs its tour and leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunCli


def test_quickstart_tour(run_cli: RunCli) -> None:
    r = run_cli("quickstart")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["transfer"]["verified"] is True
    assert summary["tampered_copy_rejected"] is True
    assert "$ nnet tx verify" in r.stderr
    assert "home" not in summary


def test_quickstart_keep_leaves_the_home(run_cli: RunCli) -> None:
    r = run_cli("quickstart", "--keep")
    home = Path(json.loads(r.stdout)["home"])
    assert (home / "keys" / "alice.json").exists() and (home / "transfer.json").exists()
