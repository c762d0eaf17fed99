"""Governance parameters of the tokenomics: every number with its default, bounds and meaning.

Each parameter is declared once, as a field of `EconParams` carrying its spec (kind, default,
bounds, unit, meaning); PARAM_SPECS is read off those fields, so the table and the dataclass
cannot disagree. Governance changes go through `EconParams.with_changes`, which refuses anything
outside the bounds. `ParamSpec` is also the row type of the chain's parameter table
(chain/params.py), whose integer kinds are listed below. Defaults
are anchored in ECONOMICS.md (Cosmos SDK x/mint, x/slashing) and explained in docs/economics.md.

Kinds, and how each is written:
  rate    a Fraction per year or a share (0.05 = 5 %); on the wire a decimal string
  amount  base units (1 NNET = 10**18); on the wire a base-unit string; people write NNET
  count   a plain integer
and, for the chain's integer rows only: units (base units), ppm and ppb (parts per million and
per billion, integers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields, replace
from fractions import Fraction
from typing import Any, Literal

from nnet.econ.fixedpoint import format_fraction, parse_fraction
from nnet.encoding import UNIT, format_amount, parse_amount
from nnet.errors import UsageError

__all__ = ["PARAM_SPECS", "EconParams", "ParamSpec", "get_param_spec"]

Kind = Literal["rate", "amount", "count", "units", "ppm", "ppb"]
_AMOUNT_KINDS = ("amount", "units")
MAX_AMOUNT = 10**36  # 10**18 NNET: far above any sane supply, small enough for fast ints


@dataclass(frozen=True)
class ParamSpec:
    """One governance parameter: its kind, default, inclusive bounds, unit and meaning."""

    name: str
    kind: Kind
    default: Fraction | int
    min: Fraction | int
    max: Fraction | int
    unit: str
    meaning: str

    @property
    def doc(self) -> str:
        """The meaning with its unit, as the daemon's parameter table serves it."""
        return f"{self.meaning} [{self.unit}]" if self.unit else self.meaning

    def parse(self, text: str) -> Fraction | int:
        """A value written by a person: rates as decimals or percent, amounts in NNET."""
        try:
            if self.kind in _AMOUNT_KINDS:
                return parse_amount(text)
            if self.kind != "rate":
                if not (text.strip().isascii() and text.strip().isdigit()):
                    raise ValueError(f"{self.name}: {text!r} is not a whole number")
                return int(text.strip())
            return parse_fraction(text, self.name)
        except ValueError as e:
            raise UsageError(str(e)) from None
        except UsageError as e:
            raise UsageError(f"{self.name}: {e.message}") from None

    def check(self, value: Fraction | int) -> None:
        """Refuse a value outside [min, max], naming the bounds."""
        if not self.min <= value <= self.max:
            raise UsageError(
                f"parameter {self.name}={self.render(value)} is out of bounds",
                hint=f"allowed: {self.render(self.min)} to {self.render(self.max)} {self.unit}",
            )

    def wire(self, value: Fraction | int) -> str | int:
        """JSON form: amounts as base-unit strings, rates as decimal strings, counts as ints."""
        if self.kind in _AMOUNT_KINDS:
            return str(value)
        if self.kind != "rate":
            return int(value)
        return format_fraction(Fraction(value))

    def render(self, value: Fraction | int) -> str:
        """Human form: amounts in NNET, rates as decimals."""
        if self.kind in _AMOUNT_KINDS:
            return format_amount(int(value))
        if self.kind != "rate":
            return str(value)
        return format_fraction(Fraction(value), places=9)


def _rate(text: str) -> Fraction:
    return Fraction(text)


def _spec(
    kind: Kind, low: Fraction | int, high: Fraction | int, unit: str, meaning: str
) -> dict[str, Any]:
    """The metadata of an EconParams field: its spec but for the name and default (the field's)."""
    return {"kind": kind, "min": low, "max": high, "unit": unit, "meaning": meaning}


def get_param_spec(name: str) -> ParamSpec:
    """The spec of a parameter, or a UsageError listing the known names."""
    try:
        return _SPECS[name]
    except KeyError:
        raise UsageError(
            f"unknown economic parameter {name!r}",
            hint="known: " + ", ".join(_SPECS),
        ) from None


@dataclass(frozen=True)
class EconParams:
    """The values of every economic parameter; each field declares its kind, default, bounds,
    unit and meaning, in the order of PARAM_SPECS."""

    epochs_per_year: int = field(
        default=365,
        metadata=_spec(
            "count",
            1,
            31_536_000,
            "epochs/year",
            "epochs in a year; converts yearly rates to per-epoch amounts",
        ),
    )
    demand_target: int = field(
        default=50_000_000 * UNIT,
        metadata=_spec(
            "amount",
            1,
            MAX_AMOUNT,
            "NNET/year",
            "verified job fees per year at which the demand index d = 1",
        ),
    )
    compute_ref: int = field(
        default=10**9,
        metadata=_spec(
            "count",
            1,
            10**30,
            "work units/node/year",
            "verified work per node per year at which the compute index c = 1",
        ),
    )
    nodes_ref: int = field(
        default=100,
        metadata=_spec(
            "count", 1, 10**9, "nodes", "active node count at which the node index n = 1"
        ),
    )
    bonded_goal: Fraction = field(
        default=_rate("0.67"),
        metadata=_spec(
            "rate",
            _rate("0.01"),
            Fraction(1),
            "share",
            "staked share of supply giving GPU rewards their reference size (Cosmos 67 %)",
        ),
    )
    staking_share: Fraction = field(
        default=_rate("0.4"),
        metadata=_spec(
            "rate",
            Fraction(0),
            Fraction(1),
            "share",
            "share of the reward pool for stakers (T_r); the rest is for GPU nodes (T_g)",
        ),
    )
    max_reward_pool: int = field(
        default=70_000_000 * UNIT,
        metadata=_spec(
            "amount", 0, MAX_AMOUNT, "NNET/year", "yearly reward ceiling T_r + T_g at genesis"
        ),
    )
    reward_pool_decay: Fraction = field(
        default=_rate("0.1"),
        metadata=_spec(
            "rate", Fraction(0), _rate("0.9"), "/year", "yearly shrink of the maximum reward pool"
        ),
    )
    max_work_index: Fraction = field(
        default=Fraction(4),
        metadata=_spec(
            "rate",
            Fraction(1),
            Fraction(1000),
            "x",
            "cap on the work index w = d*c/n used by both formulas",
        ),
    )
    max_apy: Fraction = field(
        default=_rate("0.2"),
        metadata=_spec(
            "rate", Fraction(0), Fraction(10), "/year", "cap on the protocol-funded staking yield Y"
        ),
    )
    pool_release_rate: Fraction = field(
        default=_rate("0.2"),
        metadata=_spec(
            "rate",
            Fraction(0),
            Fraction(1),
            "/year",
            "most a genesis reward pool pays out per year, as a share of its balance",
        ),
    )
    target_inflation: Fraction = field(
        default=_rate("0.05"),
        metadata=_spec(
            "rate",
            Fraction(0),
            Fraction(1),
            "/year",
            "minting-rate ceiling aimed at when demand is at target (d = 1)",
        ),
    )
    inflation_min: Fraction = field(
        default=Fraction(0),
        metadata=_spec(
            "rate", Fraction(0), Fraction(1), "/year", "floor of the minting-rate ceiling"
        ),
    )
    inflation_max: Fraction = field(
        default=_rate("0.2"),
        metadata=_spec(
            "rate",
            Fraction(0),
            Fraction(1),
            "/year",
            "top of the minting-rate ceiling (Cosmos 20 %)",
        ),
    )
    inflation_rate_change: Fraction = field(
        default=_rate("0.13"),
        metadata=_spec(
            "rate",
            Fraction(0),
            Fraction(10),
            "/year",
            "most the minting rate moves in a year (Cosmos 13 %); smooths it",
        ),
    )
    max_emission_rate: Fraction = field(
        default=_rate("0.25"),
        metadata=_spec(
            "rate",
            Fraction(0),
            Fraction(10),
            "/year",
            "per-epoch cap on pool payouts + minting, as a yearly share of supply",
        ),
    )
    max_supply: int = field(
        default=1_500_000_000 * UNIT,
        metadata=_spec("amount", 1, MAX_AMOUNT, "NNET", "total supply never passes this"),
    )
    slash_fraction: Fraction = field(
        default=_rate("0.05"),
        metadata=_spec(
            "rate",
            Fraction(0),
            Fraction(1),
            "share",
            "share of collateral a node loses when its proof is rejected (Cosmos 5 %)",
        ),
    )
    slash_verifier_share: Fraction = field(
        default=_rate("0.5"),
        metadata=_spec(
            "rate",
            Fraction(0),
            Fraction(1),
            "share",
            "share of a slash paid to the verifiers who caught it",
        ),
    )
    slash_burn_share: Fraction = field(
        default=_rate("0.5"),
        metadata=_spec(
            "rate",
            Fraction(0),
            Fraction(1),
            "share",
            "share of the slash left after verifiers that is burned; the rest to treasury",
        ),
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Every value within its bounds, and the inflation band ordered."""
        for spec in PARAM_SPECS:
            value = getattr(self, spec.name)
            if spec.kind in ("amount", "count") and (
                isinstance(value, bool) or not isinstance(value, int)
            ):
                raise UsageError(f"parameter {spec.name} must be an integer")
            if spec.kind == "rate" and not isinstance(value, Fraction | int):
                raise UsageError(f"parameter {spec.name} must be an exact rate, not a float")
            spec.check(value)
        if not self.inflation_min <= self.target_inflation <= self.inflation_max:
            raise UsageError(
                "inflation_min <= target_inflation <= inflation_max must hold",
                hint=f"now {self.inflation_min} / {self.target_inflation} / {self.inflation_max}",
            )

    def with_changes(self, changes: Mapping[str, Fraction | int]) -> EconParams:
        """A copy with some parameters changed (as governance does); bounds are checked."""
        for name in changes:
            get_param_spec(name)
        return replace(self, **dict(changes))  # type: ignore[arg-type]

    def with_text_changes(self, changes: Mapping[str, str]) -> EconParams:
        """Like with_changes, from values written by a person (`target_inflation=3%`)."""
        return self.with_changes({k: get_param_spec(k).parse(v) for k, v in changes.items()})

    def to_dict(self) -> dict[str, Any]:
        """Wire form of every value (see ParamSpec.wire)."""
        return {s.name: s.wire(getattr(self, s.name)) for s in PARAM_SPECS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EconParams:
        """Parse the wire form; unknown names and bad values are refused."""
        values: dict[str, Fraction | int] = {}
        for name, raw in data.items():
            spec = get_param_spec(name)
            if spec.kind == "count":
                if isinstance(raw, bool) or not isinstance(raw, int):
                    raise UsageError(f"parameter {name} must be an integer")
                values[name] = raw
            elif spec.kind == "amount":
                if not isinstance(raw, str) or not (raw.isascii() and raw.isdigit()):
                    raise UsageError(f"parameter {name} must be a decimal string of base units")
                values[name] = int(raw)
            else:
                if not isinstance(raw, str):
                    raise UsageError(f"parameter {name} must be a decimal string like '0.05'")
                values[name] = spec.parse(raw)
        return cls(**values)  # type: ignore[arg-type]


def _spec_of(f: Field[Any]) -> ParamSpec:
    default = f.default
    if not isinstance(default, Fraction | int):
        raise RuntimeError(f"EconParams.{f.name} has no default")
    return ParamSpec(f.name, default=default, **f.metadata)


PARAM_SPECS: tuple[ParamSpec, ...] = tuple(_spec_of(f) for f in fields(EconParams))
_SPECS = {s.name: s for s in PARAM_SPECS}
