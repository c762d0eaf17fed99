"""Fixed-point helpers: powers close to exact, decimal parsing refuses what it cannot hold."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnet.econ.fixedpoint import POW_SCALE, compute_fixed_pow, format_fraction, parse_fraction


@given(st.fractions(min_value=0, max_value=1, max_denominator=1000), st.integers(0, 200))
def test_fixed_pow_is_within_rounding_of_exact(base: Fraction, exp: int) -> None:
    exact = base**exp * POW_SCALE
    got = compute_fixed_pow(base, exp)
    assert got <= exact + 1 and exact - got <= 2 * exp + 1


def test_parse_and_format() -> None:
    assert parse_fraction("5%", "x") == Fraction(1, 20)
    assert parse_fraction("0.333", "x") == Fraction(333, 1000)
    assert format_fraction(Fraction(1, 3), 4) == "0.3333"
    assert format_fraction(Fraction(5)) == "5"
    for bad in ("nan", "1e3", "", "1.2.3", "0." + "1" * 19):
        with pytest.raises(ValueError):
            parse_fraction(bad, "x")
