"""`nnet econ params|simulate` as a user runs them."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from nnet.econ.params import PARAM_SPECS


def test_params_json_lists_every_parameter_with_bounds(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("econ", "params", "--json")
    assert r.exit_code == 0, r.stderr
    records = [json.loads(line) for line in r.lines()]
    assert [x["name"] for x in records] == [s.name for s in PARAM_SPECS]
    apy = next(x for x in records if x["name"] == "max_apy")
    assert apy == {**apy, "value": "0.2", "min": "0", "max": "10", "kind": "rate"}
    assert all(x["meaning"] for x in records)


def test_params_table_and_set(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("econ", "params", "--set", "target_inflation=3%")
    assert r.exit_code == 0
    # not a terminal here, so JSON; the value reflects the change
    assert any('"target_inflation","value":"0.03"' in line for line in r.lines())


def test_params_bad_set_is_a_usage_error(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("econ", "params", "--set", "max_apy=50")
    assert r.exit_code == 2 and "out of bounds" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("econ", "params", "--set", "max_apy")
    assert r.exit_code == 2 and "NAME=VALUE" in r.stderr


def test_simulate_json_and_csv(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "sim.csv"
    r = run_cli(
        "econ",
        "simulate",
        "--scenario",
        "low-demand",
        "--years",
        "2",
        "--epochs-per-year",
        "12",
        "--csv",
        str(out),
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.lines()]
    assert len(rows) == 24 and rows[-1]["epoch"] == 24 and rows[0]["scenario"] == "low-demand"
    with out.open() as fh:
        table = list(csv.DictReader(fh))
    assert table[-1]["supply_nnet"] == rows[-1]["supply_nnet"]
    assert "simulating 'low-demand'" in r.stderr


def test_simulate_plot_writes_a_png(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("matplotlib")
    png = tmp_path / "chart.png"
    r = run_cli("econ", "simulate", "--years", "3", "--epochs-per-year", "12", "--plot", str(png))
    assert r.exit_code == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_simulate_plot_without_matplotlib_says_how_to_install(  # type: ignore[no-untyped-def]
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    csv_out = tmp_path / "x.csv"
    r = run_cli(
        "econ", "simulate", "--years", "1", "--plot", str(tmp_path / "c.png"), "--csv", str(csv_out)
    )
    assert r.exit_code == 2 and "matplotlib" in r.stderr and "nnet[plot]" in r.stderr
    assert not csv_out.exists()  # refused before doing anything


def test_simulate_bad_scenario_and_set(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("econ", "simulate", "--scenario", "boom")
    assert r.exit_code == 2 and "adoption" in r.stderr
    r = run_cli("econ", "simulate", "--set", "nope=1")
    assert r.exit_code == 2 and "unknown economic parameter" in r.stderr
    r = run_cli("econ", "simulate", "--years", "1000", "--epochs-per-year", "100000")
    assert r.exit_code == 2 and "too many" in r.stderr
