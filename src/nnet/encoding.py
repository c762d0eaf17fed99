"""Wire encodings shared by every layer: canonical JSON (RFC 8785), strict JSON parsing, NDJSON
streams, NNET amounts, hex.

Amounts: users write NNET with up to 18 decimals (`12.5`); the wire carries decimal strings of base
units (1 NNET = 10**18 units). Floats are refused everywhere, because a float cannot hold 10**-18
exactly and two machines may round one differently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

import rfc8785

from nnet.errors import MalformedInput, UsageError

__all__ = [
    "DECIMALS",
    "MAX_JSON_DEPTH",
    "UNIT",
    "canonical_json",
    "format_amount",
    "hex_to_bytes",
    "parse_amount",
    "parse_units",
    "read_ndjson",
    "strict_loads",
    "to_json_line",
]

DECIMALS = 18
UNIT = 10**DECIMALS
MAX_JSON_DEPTH = 32
MAX_AMOUNT = 2**256 - 1

# ASCII digits only, matched whole: `\d` would take "١٠٠" and `$` a trailing newline, and int()
# then executes "1٠０" as 100, which another implementation (or the OpenAPI pattern) refuses
_AMOUNT_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?", re.ASCII)
_UNITS_RE = re.compile(r"(0|[1-9][0-9]*)", re.ASCII)


def parse_amount(text: str) -> int:
    """Parse an NNET amount written by a person (`12.5`) into base units, exactly.

    Refuses negatives, exponents, more than 18 decimals and anything that is not plain digits.
    """
    if not isinstance(text, str):
        raise UsageError(f"amount must be text like '12.5', not {type(text).__name__}")
    s = text.strip().replace("_", "")
    m = _AMOUNT_RE.fullmatch(s)
    if not m:
        if s.startswith("-"):
            raise UsageError(f"amount {text!r} is negative", hint="amounts are >= 0")
        raise UsageError(
            f"amount {text!r} is not a decimal number", hint="write NNET like 12.5 (no exponent)"
        )
    whole, frac = m.group(1), m.group(2) or ""
    if len(frac) > DECIMALS:
        raise UsageError(f"amount {text!r} has more than {DECIMALS} decimals")
    units: int = int(whole) * UNIT + int(frac.ljust(DECIMALS, "0") or "0")
    if units > MAX_AMOUNT:
        raise UsageError(f"amount {text!r} is too large")
    return units


def parse_units(value: object, field: str = "amount") -> int:
    """Parse a wire amount: a decimal string of base units (`"2500000000000000000"`)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise MalformedInput(
            f"{field} must be a decimal string of base units, not {_json_type(value)}"
        )
    if not _UNITS_RE.fullmatch(value):
        if value.startswith("-"):
            raise MalformedInput(f"{field} {value!r} is negative")
        raise MalformedInput(f"{field} {value!r} is not a decimal string of base units")
    units = int(value)
    if units > MAX_AMOUNT:
        raise MalformedInput(f"{field} {value!r} is too large")
    return units


def format_amount(units: int) -> str:
    """Base units to NNET text, exact, without trailing zeros: 12500000000000000000 -> '12.5'."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNIT)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(DECIMALS, '0').rstrip('0')}"


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON value; floats are refused, not canonicalised.

    Transactions hold only ASCII strings and integers below 2**53; for those, JCS is exactly
    `json.dumps` with sorted keys and no whitespace (same escapes, same key order, same integer
    digits), which is 4x faster than the general implementation. Anything else goes to rfc8785.
    A property test holds the two paths equal.
    """
    if _is_simple(obj, "$"):
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        return bytes(rfc8785.dumps(obj))
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as e:
        raise MalformedInput(
            f"cannot be written as canonical JSON ({e}); integers above 2^53 must be "
            "decimal strings"
        ) from None


_SAFE_INT = 2**53


def _is_simple(obj: Any, path: str) -> bool:
    """True if obj has only ASCII strings/keys, safe integers, bools and null; refuses floats."""
    if isinstance(obj, str):
        return obj.isascii()
    if isinstance(obj, bool) or obj is None:
        return True
    if isinstance(obj, int):
        return -_SAFE_INT < obj < _SAFE_INT
    if isinstance(obj, dict):
        simple = True
        for k, v in obj.items():
            simple = _is_simple(v, f"{path}.{k}") and isinstance(k, str) and k.isascii() and simple
        return simple
    if isinstance(obj, list):
        simple = True
        for i, v in enumerate(obj):
            simple = _is_simple(v, f"{path}[{i}]") and simple
        return simple
    if isinstance(obj, float):
        raise MalformedInput(f"float at {path} is not allowed; use a decimal string")
    return False


def to_json_line(obj: Any) -> str:
    """One compact JSON line (no trailing newline) for NDJSON output."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _refuse_float(text: str) -> Any:
    raise ValueError(f"float {text} is not allowed (amounts are decimal strings of base units)")


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all distinct: with a repeated key, parsers disagree on which
    value wins (Python takes the last), so two nodes could read one transaction two ways."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"invalid JSON: key {key!r} appears twice in one object")
            seen.add(key)
    return out


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not valid JSON")


def strict_loads(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON refusing floats, NaN/Infinity, repeated keys, invalid UTF-8 and nesting deeper
    than max_depth.

    Raises MalformedInput with the problem and its position.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedInput(f"invalid UTF-8 at byte {e.start}") from None
    _check_depth(data, max_depth)
    try:
        return json.loads(
            data,
            parse_float=_refuse_float,
            parse_constant=_refuse_constant,
            object_pairs_hook=_refuse_duplicate_keys,
        )
    except json.JSONDecodeError as e:
        raise MalformedInput(f"invalid JSON: {e.msg} at column {e.colno}") from None
    except ValueError as e:
        raise MalformedInput(str(e)) from None


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def _check_depth(text: str, max_depth: int) -> None:
    """Refuse deep nesting before json recursion can blow the stack (fast path: few brackets).
    Strings are cut out (a bracket in a string is text), then everything but brackets; each
    pass then removes the innermost pairs, one nesting level: a pair still there after
    max_depth passes is nested deeper. All of it runs in the regex engine, so a 3 MB block of
    transactions is checked in milliseconds."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(max_depth):
        brackets, removed = _INNERMOST.subn("", brackets)
        if not removed:
            return
    if _INNERMOST.search(brackets):
        raise MalformedInput(f"JSON nested deeper than {max_depth} levels")


def read_ndjson(stream: IO[str] | Iterable[str], *, source: str = "stdin") -> Iterator[Any]:
    """Yield one parsed JSON value per non-blank line; a bad line raises naming its number."""
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield strict_loads(line)
        except MalformedInput as e:
            raise MalformedInput(f"{source} line {lineno}: {e.message}") from None


def hex_to_bytes(value: object, field: str, length: int | None = None) -> bytes:
    """Decode `0x`-prefixed hex, checking its length in bytes when given."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedInput(f"{field} must be 0x-prefixed hex")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise MalformedInput(f"{field} is not valid hex") from None
    if length is not None and len(raw) != length:
        raise MalformedInput(f"{field} must be {length} bytes, got {len(raw)}")
    return raw


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a float"
    return type(value).__name__
