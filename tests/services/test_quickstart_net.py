"""nnet.services.quickstart_net: the quickstart's network tour routes each person's commands to a
validator, shows the set and its finality, and stops the network whatever ends the tour."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest

from nnet.services.devnet_proc import NodeProc, running_nodes
from nnet.services.quickstart_net import (
    MAX_VALIDATORS,
    NetworkTour,
    act_finality,
    act_network,
)
from nnet.services.tour import StepFailed
from tests.services.test_devnet_proc import _gone


@pytest.mark.parametrize("validators", [0, 1, MAX_VALIDATORS + 1])
def test_a_network_tour_has_2_to_max_validators(tmp_path: Path, validators: int) -> None:
    with pytest.raises(ValueError, match="2 to"):
        NetworkTour(tmp_path, validators)
    NetworkTour(tmp_path, MAX_VALIDATORS)  # the bound itself is allowed


def test_spread_sends_each_person_to_a_node_of_their_own(tmp_path: Path) -> None:
    tour = NetworkTour(tmp_path, 3, narrate=io.StringIO())
    tour.nodes = [
        NodeProc(f"node-{i}", f"http://127.0.0.1:{7000 + i}", 1, tmp_path) for i in range(3)
    ]
    tour.url = tour.nodes[0].url
    for who in ("researcher", "gpu", "verifier", "cheater"):
        tour.node_of(who)
    assert tour._env("gpu")["NNET_NODE"] == "http://127.0.0.1:7000"  # not spread: node-0
    tour.spread = True
    got = {who: tour._env(who)["NNET_NODE"][-4:] for who in ("researcher", "gpu", "verifier")}
    assert got == {"researcher": "7000", "gpu": "7001", "verifier": "7002"}
    assert tour._env("cheater")["NNET_NODE"].endswith(":7000")  # round the ring again
    assert tour._env(None)["NNET_NODE"].endswith(":7000")


@pytest.mark.slow
def test_the_network_is_shown_verified_and_stopped_when_the_tour_fails(tmp_path: Path) -> None:
    """Two validators: the set with its power, a finalized block every node agrees on and its
    certificate verified; then a failing step, and every daemon is gone with the tour."""
    out = io.StringIO()
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(StepFailed), NetworkTour(home, 2, narrate=out) as tour:
        tour.run("devnet", "init", "--validators", "2")
        tour.start_daemon(block_time=0.1)
        pids = [n.pid for n in tour.nodes]
        tour.addresses = {"researcher": "0x0", "gpu": "0x1"}
        network = act_network(tour)
        assert [v["name"] for v in network["validators"]] == ["node-0", "node-1"]
        assert network["total_power"] == sum(v["power"] for v in network["validators"]) > 0
        tour.wait_for(
            "a few blocks",
            lambda: httpx.get(f"{tour.url}/status", timeout=5).json()["height"] >= 3,
            timeout_s=60,
        )
        final = act_finality(tour, network)
        assert final["agree"] is True and final["verify"]["ok"] is True
        assert final["verify"]["height"] == final["last_height"] >= 3
        assert final["verify"]["signed_power"] * 3 > final["verify"]["total_power"] * 2
        tour.run("block", "verify", "999999")  # no such block: the step fails
    text = out.getvalue()
    assert "node-0  0x" in text and "power 1,000,000 (50 %" in text
    assert "$ nnet devnet down" in text
    assert all(_gone(pid) for pid in pids)
    assert running_nodes(home) == [] and not (home / "daemon.json").exists()
