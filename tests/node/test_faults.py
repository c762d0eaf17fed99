"""The fault plan (node/faults.py): rules, how they combine, probabilities, re-reading the file when
it changes (at most every RECHECK_S), and refusing a bad file without crashing or half-applying.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import pytest

from nnet.errors import MalformedInput
from nnet.node.faults import (
    MAX_FILE_BYTES,
    MAX_RULES,
    NO_FAULT,
    RECHECK_S,
    Fault,
    FaultPlan,
    FaultRule,
    parse_rules,
)


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, rules: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"rules": rules}))


def test_no_file_means_no_faults(tmp_path: Path) -> None:
    plan = FaultPlan(tmp_path / "faults.json")
    assert plan.rules == () and plan.error is None
    assert plan.decide("node-1") == NO_FAULT and not plan.drops("node-1")
    assert FaultPlan.none().decide("node-1") == NO_FAULT


def test_each_action_and_how_rules_combine(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    write(
        path,
        [
            {"peer": "node-2", "action": "drop"},
            {"peer": "node-3", "action": "delay", "seconds": 0.5},
            {"peer": "node-3", "action": "delay", "seconds": 1.5},
            {"peer": "*", "action": "duplicate"},
        ],
    )
    plan = FaultPlan(path)
    assert plan.decide("node-2") == Fault(drop=True, delay_s=0.0, copies=2)
    assert plan.decide("node-3") == Fault(drop=False, delay_s=1.5, copies=2)  # the longest delay
    assert plan.decide("node-4") == Fault(copies=2)  # "*" reaches every peer
    assert plan.drops("node-2") and not plan.drops("node-3") and not plan.drops("node-4")


def test_probability_draws_on_the_seeded_rng(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    write(path, [{"peer": "node-1", "action": "drop", "p": 0.3}])
    plan = FaultPlan(path, rng=random.Random(7))
    got = [plan.decide("node-1").drop for _ in range(1000)]
    replay = random.Random(7)
    assert got == [replay.random() < 0.3 for _ in range(1000)]
    assert 200 < sum(got) < 400  # about 30 %, so p is a probability, not a switch
    # a rule for another peer draws nothing and drops nothing
    assert not any(plan.decide("node-2").drop for _ in range(100))
    # p = 0 never fires
    write(path, [{"peer": "node-1", "action": "drop", "p": 0}])
    assert not any(FaultPlan(path).decide("node-1").drop for _ in range(100))


def test_the_file_is_rechecked_at_most_every_recheck_s(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    clock = Clock()
    plan = FaultPlan(path, clock=clock)
    assert not plan.decide("node-2").drop
    write(path, [{"peer": "node-2", "action": "drop"}])  # a partition...
    clock.now += RECHECK_S / 2
    assert not plan.decide("node-2").drop  # not looked at yet
    clock.now += RECHECK_S
    assert plan.decide("node-2").drop
    write(path, [])  # ...healed
    clock.now += RECHECK_S
    assert not plan.decide("node-2").drop
    write(path, [{"peer": "node-3", "action": "drop"}])
    clock.now += RECHECK_S
    assert plan.drops("node-3")
    path.unlink()  # gone: no faults
    clock.now += RECHECK_S
    assert plan.rules == () and not plan.drops("node-3")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"rules": {}}',
        '{"rules": [], "extra": 1}',
        '{"rules": ["node-2"]}',
        '{"rules": [{"peer": "node-2"}]}',
        '{"rules": [{"peer": "node-2", "action": "explode"}]}',
        '{"rules": [{"peer": "", "action": "drop"}]}',
        '{"rules": [{"peer": 7, "action": "drop"}]}',
        '{"rules": [{"peer": "node-2", "action": "drop", "p": 1.5}]}',
        '{"rules": [{"peer": "node-2", "action": "drop", "p": true}]}',
        '{"rules": [{"peer": "node-2", "action": "drop", "p": "1"}]}',
        '{"rules": [{"peer": "node-2", "action": "delay"}]}',
        '{"rules": [{"peer": "node-2", "action": "delay", "seconds": -1}]}',
        '{"rules": [{"peer": "node-2", "action": "delay", "seconds": 1e9}]}',
        '{"rules": [{"peer": "node-2", "action": "delay", "seconds": NaN}]}',
        '{"rules": [{"peer": "node-2", "action": "drop", "seconds": 1}]}',
        '{"rules": [{"peer": "node-2", "action": "drop", "typo": 1}]}',
        '{"rules": [{"peer": "node-3", "action": "drop"}, {"peer": "node-2"}]}',  # no half-apply
        "[" * 100_000,
        "\xff\xfe",
    ],
)
def test_a_malformed_file_means_no_faults_and_a_warning(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "faults.json"
    path.write_bytes(text.encode("latin-1") if text == "\xff\xfe" else text.encode())
    plan = FaultPlan(path)
    with caplog.at_level(logging.WARNING, logger="nnet.faults"):
        assert plan.rules == ()
        assert plan.decide("node-2") == NO_FAULT and plan.decide("node-3") == NO_FAULT
    assert plan.error
    assert any("ignoring fault file" in r.getMessage() for r in caplog.records)


def test_a_malformed_file_replacing_a_good_one_clears_the_faults(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    clock = Clock()
    write(path, [{"peer": "node-2", "action": "drop"}])
    plan = FaultPlan(path, clock=clock)
    assert plan.drops("node-2")
    path.write_text('{"rules": [{"peer": "node-2", "action": "drop"},')  # half written
    clock.now += RECHECK_S
    assert not plan.drops("node-2") and plan.error
    write(path, [{"peer": "node-2", "action": "drop"}])  # fixed
    clock.now += RECHECK_S
    assert plan.drops("node-2") and plan.error is None


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    rule = '{"rules": [{"peer": "node-2", "action": "drop"}]}'
    path.write_text(rule + " " * (MAX_FILE_BYTES - len(rule)))  # exactly at the limit
    assert FaultPlan(path).drops("node-2")
    path.write_text(rule + " " * (MAX_FILE_BYTES - len(rule) + 1))
    plan = FaultPlan(path)
    assert not plan.drops("node-2") and "limit" in (plan.error or "")


def test_rule_count_limit(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    write(path, [{"peer": f"n{i}", "action": "drop"} for i in range(MAX_RULES)])
    assert len(FaultPlan(path).rules) == MAX_RULES
    write(path, [{"peer": f"n{i}", "action": "drop"} for i in range(MAX_RULES + 1)])
    plan = FaultPlan(path)
    assert plan.rules == () and "limit" in (plan.error or "")


def test_parse_rules_says_what_is_wrong() -> None:
    assert parse_rules({"rules": [{"peer": "a", "action": "delay", "seconds": 2}]}) == (
        FaultRule(peer="a", action="delay", p=1.0, seconds=2.0),
    )
    with pytest.raises(MalformedInput, match=r"rules\[1\]\.action"):
        parse_rules({"rules": [{"peer": "a", "action": "drop"}, {"peer": "b", "action": "x"}]})
