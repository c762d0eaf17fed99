"""`nnet status` for people on a network node: consensus fields on one line each."""

from __future__ import annotations

from nnet.commands.status import _network_lines


def test_a_network_status_reads_as_lines() -> None:
    out = _network_lines(
        {
            "height": 12,
            "validators": [{"address": "0xA", "power": 3}, {"address": "0xB", "power": 1}],
            "total_power": 4,
            "last_commit": {"height": 12, "round": 1, "signed_power": 3, "total_power": 4},
            "consensus": {"height": 13, "round": 0, "step": "prevote", "validator": True},
            "peers": ["node-1", "node-2"],
        }
    )
    assert out["validators"] == "2 (total power 4)" and "total_power" not in out
    assert out["last_commit"] == "height 12 round 1: 3/4 power signed (75 %)"
    assert out["consensus"] == "height 13 round 0 prevote (this node votes)"
    assert out["peers"] == "node-1, node-2"


def test_a_sequencer_status_is_left_as_it_was() -> None:
    record = {"height": 3, "sync": "sequencer", "peers": []}
    assert _network_lines(dict(record)) == {**record, "peers": "none"}
