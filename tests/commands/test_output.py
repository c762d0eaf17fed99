"""The one output path and the one client path of the commands (commands/_common.py), and the
shared transaction options as a command adapts them (commands/_txflow.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import typer

import nnet.commands._common as common
from nnet.commands._common import emit_rows, node_client
from nnet.commands._txflow import OptionAs, command_with_tx_options
from tests.conftest import RunCli

ROWS = [{"id": 1, "fee": "5", "who": None}, {"id": 2, "fee": "7", "who": "0xab"}]
COLUMNS: list[common.Column] = [("ID", "id"), ("FEE", lambda r: int(r["fee"]) * 2), ("WHO", "who")]


def test_emit_rows_prints_one_json_line_per_row_as_it_comes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def rows() -> Iterator[dict[str, Any]]:
        yield ROWS[0]
        assert json.loads(capsys.readouterr().out) == ROWS[0]  # out before the next is made
        yield ROWS[1]

    emit_rows(rows(), COLUMNS, True)
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [ROWS[1]]


def test_emit_rows_on_a_terminal_is_one_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "want_json", lambda flag: flag)
    emit_rows(iter(ROWS), COLUMNS, False)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [
        ["ID", "FEE", "WHO"],
        ["1", "10", "-"],
        ["2", "14", "0xab"],
    ]
    emit_rows([], COLUMNS, False, empty="nothing here yet")
    out, err = capsys.readouterr()
    assert out == "" and err == "nothing here yet\n"


def test_node_client_takes_the_flag_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NNET_NODE", "http://127.0.0.1:9/")
    with node_client(None) as client:
        assert client.url == "http://127.0.0.1:9"
    with node_client("http://127.0.0.1:8", timeout=5.0) as client:
        assert client.url == "http://127.0.0.1:8"


def test_a_command_renames_and_drops_shared_options(run_cli: RunCli) -> None:
    submit = run_cli("job", "submit", "--help").stdout
    options = [line.split()[0] for line in submit.splitlines() if line.startswith("  -")]
    assert options.count("--fee") == 1 and "--tx-fee" in options and "--send" in options
    sign = run_cli("tx", "sign", "--help").stdout
    assert "--fee" in sign and "--send" not in sign and "--wait" not in sign
    claim = run_cli("claim", "--help").stdout
    assert "--no-wait" in claim and "--nonce" not in claim and "--send" not in claim


def test_adapting_an_option_that_is_not_shared_or_clashes_is_refused() -> None:
    def fn(fee: str = "1", *, opts: Any) -> None:
        """A command."""

    app = typer.Typer()
    with pytest.raises(ValueError, match="no shared transaction option"):
        command_with_tx_options(app, "x", fn, adapt={"colour": None})
    with pytest.raises(ValueError, match="both its own and a shared option"):
        command_with_tx_options(app, "x", fn)
    command_with_tx_options(app, "x", fn, adapt={"fee": OptionAs("tx_fee", str | None)})
