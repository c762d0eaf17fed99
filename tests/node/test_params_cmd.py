"""`nnet params` shows every governance parameter the node has, in units people read."""

from __future__ import annotations

import json

from tests.conftest import RunCli
from tests.node.conftest import RunningNode


def test_params_lists_every_chain_parameter(running: RunningNode, run_cli: RunCli) -> None:
    env = {"NNET_NODE": running.url}
    r = run_cli("params", "--json", env=env)
    assert r.exit_code == 0, r.stderr
    rows = {json.loads(x)["name"]: json.loads(x) for x in r.lines()}
    assert rows.keys() == running.http.get("/params").json().keys()
    assert {"gov_min_deposit", "market_challenge_q", "target_inflation"} <= rows.keys()


def test_params_human_units() -> None:
    from nnet.commands.params import _show

    assert _show({"value": 334_000, "kind": "ppm"}, "value") == "33.4%"
    assert _show({"value": 50_000_000, "kind": "ppb"}, "value") == "5%"
    assert _show({"value": str(100 * 10**18), "kind": "units"}, "value") == "100 NNET"
    assert _show({"value": 7, "kind": "count"}, "value") == "7"
