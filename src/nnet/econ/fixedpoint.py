"""Exact arithmetic helpers for the tokenomics: Fractions, parts-per-billion, fixed-point powers.

Everything here is integer or Fraction math, so two nodes computing the same epoch get the same
base units. Rounding is always toward zero (floor for the non-negative values we handle), which
is the direction that can never pay out more than was funded.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = [
    "POW_SCALE",
    "PPB",
    "clamp",
    "compute_fixed_pow",
    "floor_fraction",
    "format_fraction",
    "fraction_to_ppb",
    "parse_fraction",
]

PPB = 10**9
# precision of compute_fixed_pow: 40 digits is far below a base unit for any supply < 10**36
POW_SCALE = 10**40
MAX_DECIMALS = 18


def floor_fraction(value: Fraction | int) -> int:
    """The integer part of a non-negative Fraction (floor)."""
    if isinstance(value, int):
        return value
    return value.numerator // value.denominator


def clamp(value: Fraction, low: Fraction, high: Fraction) -> Fraction:
    """value limited to [low, high]."""
    return max(low, min(high, value))


def fraction_to_ppb(value: Fraction) -> int:
    """A rate as an integer in parts per billion, rounded down."""
    return floor_fraction(value * PPB)


def compute_fixed_pow(base: Fraction, exponent: int, scale: int = POW_SCALE) -> int:
    """floor-ish(base**exponent * scale) for 0 <= base <= 1, by square-and-multiply in fixed point.

    An exact Fraction power would grow to exponent-many digits (slow after centuries of epochs);
    truncating to `scale` at each step keeps every step O(1) and is still deterministic integer
    math, so every node gets the same answer.
    """
    if exponent < 0:
        raise ValueError("exponent must be >= 0")
    if not 0 <= base <= 1:
        raise ValueError("base must be in [0, 1]")
    result = scale
    factor = floor_fraction(base * scale)
    e = exponent
    while e and result:
        if e & 1:
            result = result * factor // scale
        e >>= 1
        if e:
            factor = factor * factor // scale
    return result


def parse_fraction(text: str, name: str) -> Fraction:
    """A decimal written by a person ("0.05", "2", "67%") as an exact Fraction.

    Refuses exponents, NaN, more than 18 decimals and anything that is not a plain decimal.
    Raises ValueError with a readable message (callers turn it into a UsageError).
    """
    s = text.strip()
    percent = s.endswith("%")
    if percent:
        s = s[:-1].strip()
    if not s or any(ch not in "0123456789.-" for ch in s) or s.count(".") > 1:
        raise ValueError(f"{name}: {text!r} is not a plain decimal like 0.05 or 5%")
    try:
        dec = Decimal(s)
    except InvalidOperation:
        raise ValueError(f"{name}: {text!r} is not a decimal number") from None
    exponent = dec.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        raise ValueError(f"{name}: {text!r} has more than {MAX_DECIMALS} decimals")
    value = Fraction(dec)
    return value / 100 if percent else value


def format_fraction(value: Fraction, places: int = 18) -> str:
    """A Fraction as a plain decimal string, exact when it terminates within `places` digits,
    otherwise rounded down at `places`; trailing zeros trimmed."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    whole = v.numerator // v.denominator
    frac = floor_fraction((v - whole) * 10**places)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(places, '0').rstrip('0')}"
