"""`nnet quickstart`: the whole lifecycle through real processes (a daemon subprocess, CLI
subprocesses joined by pipes for the setup, then one `nnet node run` agent per node doing every
node's step), ending with the honest node paid, the cheater slashed, the supply accounted for to
the base unit and nothing left running (daemon and agents)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_quickstart_runs_the_whole_lifecycle(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNET_")}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "nnet", "quickstart"],
        capture_output=True,
        text=True,
        env=env,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads(proc.stdout)

    assert s["offline"] == {"verified": True, "tampered_rejected": True}
    honest, cheat = s["honest_job"], s["cheating_job"]
    assert honest["status"] == "accepted"
    paid = honest["settlement"]
    fee = 100 * 10**18
    to_verifiers = sum(int(v) for v in paid["to_verifiers"].values())
    assert int(paid["to_node"]) + to_verifiers + int(paid["to_treasury"]) == fee
    assert int(paid["to_node"]) > 0 and len(paid["to_verifiers"]) == 2
    assert float(honest["heldout_accuracy"]) > 0.5

    assert cheat["status"] == "rejected"
    assert int(cheat["slashed"]) > 0 and cheat["reputation"][1] < cheat["reputation"][0]
    assert any(r.startswith("replay:") for r in cheat["reasons"])
    assert s["nodes"]["cheater"]["reputation"] < s["nodes"]["gpu"]["reputation"]

    assert s["staking"]["claimed"] is True and s["staking"]["second_claim"] == "nothing_to_claim"
    assert s["supply_audit"]["difference"] == "0"
    assert "== 6. a cheating node" in proc.stderr and "| nnet send --wait" in proc.stderr

    # the agents did the nodes' work: nobody typed a claim, prove, verify or open
    assert "$ [gpu] nnet node run &" in proc.stderr and "$ [cheater] nnet node run &" in proc.stderr
    for typed in ("nnet job claim", "nnet prove", "nnet verify", "nnet train"):
        assert typed not in proc.stderr, typed
    agents = s["agents"]
    assert agents["gpu"]["signed"] >= 3 and agents["cheater"]["signed"] >= 3  # claim, proof, open
    assert agents["verifier-1"]["signed"] + agents["verifier-2"]["signed"] >= 2  # seed, attest

    # the throwaway home is gone and no daemon of it is left running
    assert not list(tmp_path.glob("nnet-quickstart-*"))
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in ps
