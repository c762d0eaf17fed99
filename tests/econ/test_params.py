"""Parameters: defaults inside bounds, governance changes checked, wire form round-trips."""

from __future__ import annotations

from fractions import Fraction

import pytest

from nnet.econ.params import PARAM_SPECS, EconParams, get_param_spec
from nnet.encoding import UNIT
from nnet.errors import UsageError


def test_every_default_is_within_its_bounds_and_documented() -> None:
    params = EconParams()
    for spec in PARAM_SPECS:
        assert spec.min <= getattr(params, spec.name) <= spec.max
        assert spec.meaning and spec.unit


def test_text_changes_parse_percent_and_nnet() -> None:
    p = EconParams().with_text_changes(
        {"target_inflation": "3%", "max_reward_pool": "1000.5", "nodes_ref": "7"}
    )
    assert p.target_inflation == Fraction(3, 100)
    assert p.max_reward_pool == 1000 * UNIT + UNIT // 2
    assert p.nodes_ref == 7


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_apy": "11"}, "out of bounds"),
        ({"staking_share": "-0.1"}, "negative|not a plain decimal|out of bounds"),
        ({"nope": "1"}, "unknown economic parameter"),
        ({"target_inflation": "1e-3"}, "plain decimal"),
        ({"nodes_ref": "1.5"}, "whole number"),
        ({"target_inflation": "0.5"}, "inflation_min <= target_inflation <= inflation_max"),
        ({"epochs_per_year": "0"}, "out of bounds"),
    ],
)
def test_bad_changes_are_refused(changes: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        EconParams().with_text_changes(changes)


def test_floats_are_refused() -> None:
    with pytest.raises(UsageError, match="float"):
        EconParams(max_apy=0.2)  # type: ignore[arg-type]


def test_wire_round_trip() -> None:
    p = EconParams().with_text_changes({"max_apy": "0.123456789", "max_supply": "2000000000"})
    assert EconParams.from_dict(p.to_dict()) == p
    with pytest.raises(UsageError):
        EconParams.from_dict({"max_supply": 5})


def test_unknown_spec_lists_known_names() -> None:
    with pytest.raises(UsageError) as e:
        get_param_spec("apy")
    assert "max_apy" in (e.value.hint or "")


def test_docs_describe_every_parameter_with_its_default() -> None:
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "economics.md"
    text = doc.read_text(encoding="utf-8")
    for spec in PARAM_SPECS:
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| `{spec.name}` |")), None)
        assert row is not None, f"docs/economics.md has no row for {spec.name}"
        default = row.split("|")[2].strip().replace(",", "")
        if "^" not in default:
            assert default == spec.render(spec.default), spec.name
