"""Amounts, canonical JSON and strict parsing."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from nnet.encoding import (
    UNIT,
    canonical_json,
    format_amount,
    parse_amount,
    parse_units,
    read_ndjson,
    strict_loads,
)
from nnet.errors import MalformedInput, UsageError


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("0", 0),
        ("1", UNIT),
        ("12.5", 12 * UNIT + UNIT // 2),
        ("0.000000000000000001", 1),
        ("1_000", 1000 * UNIT),
        ("123456789.123456789123456789", 123456789123456789123456789),
    ],
)
def test_parse_amount_is_exact(text: str, units: int) -> None:
    assert parse_amount(text) == units


@pytest.mark.parametrize("text", ["-1", "1e18", "0.0000000000000000001", "1.2.3", "", "abc", "NaN"])
def test_parse_amount_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_amount(text)


@given(st.integers(min_value=0, max_value=10**40))
def test_format_then_parse_round_trips(units: int) -> None:
    assert parse_amount(format_amount(units)) == units


@pytest.mark.parametrize("value", [1.5, 10, "-5", "01", "1.0", True, None, "1e3"])
def test_wire_amounts_must_be_plain_decimal_strings(value: object) -> None:
    with pytest.raises(MalformedInput):
        parse_units(value)


def test_canonical_json_matches_rfc8785_and_sorts_keys() -> None:
    obj = {"b": 2, "a": {"d": "ü\n", "c": [3, "x"]}, "€": "", "\u0080": 1}
    assert canonical_json(obj) == rfc8785.dumps(obj)
    assert canonical_json({"b": 1, "a": 2}) == b'{"a":2,"b":1}'


def test_canonical_json_refuses_floats() -> None:
    with pytest.raises(MalformedInput, match=r"\$\.body\.amount"):
        canonical_json({"body": {"amount": 1.5}})


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ('{"fee": 1.5}', "float"),
        ('{"fee": 1e3}', "float"),
        ('{"a": NaN}', "NaN"),
        ("[" * 100 + "]" * 100, "nested"),
        (b'{"a": "\xff"}', "UTF-8"),
        ("{'a': 1}", "invalid JSON"),
    ],
)
def test_strict_loads_refuses_with_a_reason(raw: str | bytes, problem: str) -> None:
    with pytest.raises(MalformedInput, match=problem):
        strict_loads(raw)


def test_strict_loads_keeps_big_integers_exact() -> None:
    assert (
        strict_loads('{"n": 123456789012345678901234567890}')["n"] == 123456789012345678901234567890
    )


def test_ndjson_names_the_bad_line() -> None:
    lines = [json.dumps({"a": 1}), "", json.dumps({"b": 2}), '{"c": ']
    reader = read_ndjson(lines, source="input.ndjson")
    assert next(reader) == {"a": 1}
    assert next(reader) == {"b": 2}
    with pytest.raises(MalformedInput, match=r"input\.ndjson line 4"):
        next(reader)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**60), max_value=2**60) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_fast_path_equals_rfc8785(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except Exception:  # rfc8785 refuses e.g. integers beyond 2**53 or lone surrogates
        return
    assert canonical_json(value) == expected


def test_integers_beyond_2_53_cannot_be_canonicalised() -> None:
    with pytest.raises(MalformedInput, match="decimal strings"):
        canonical_json({"proof": {"metrics": {"x": 2**60}}, "name": "é"})


@pytest.mark.parametrize("text", ["1٠٠", "1٠０", "١٠٠", "100\n", "100 ", "\n100", "0x64", "+100"])
def test_wire_amounts_are_ascii_digits_matched_whole(text: str) -> None:
    """Unicode digits and a trailing newline once executed as 100 (int() takes them); another
    implementation or the OpenAPI pattern refuses them, which would split the chain."""
    with pytest.raises(MalformedInput):
        parse_units(text)


@pytest.mark.parametrize("text", ["1٠٠", "١.5", "12.5\u0663"])
def test_typed_amounts_are_ascii_digits(text: str) -> None:
    with pytest.raises(UsageError):
        parse_amount(text)


def test_repeated_json_keys_are_refused() -> None:
    """With a repeated key parsers disagree on the winner (Python: the last)."""
    with pytest.raises(MalformedInput, match="twice"):
        strict_loads('{"amount": "1", "amount": "100"}')
    with pytest.raises(MalformedInput, match="twice"):
        strict_loads('{"body": {"to": "a", "to": "b"}}')
    assert strict_loads('{"a": {"a": 1}}') == {"a": {"a": 1}}
