"""Governance-tunable numbers of the chain: one table with defaults and bounds, kept in state.

Every parameter lives in state under `param/<name>` so governance (a later issue) can change it by a
transaction and every node sees the change at the same height. The bounds are code: a value outside
them is refused at genesis and will be refused by a governance proposal. A new capability adds its
parameters as rows of PARAMS.

| name             | kind  | default | min | max       | meaning                                   |
| ---------------- | ----- | ------- | --- | --------- | ----------------------------------------- |
| epoch_blocks     | count | 100     | 2   | 1_000_000 | blocks per epoch (epoch = height // this) |
| unbonding_epochs | count | 7       | 0   | 10_000    | full epochs unstaked tokens stay locked   |
| min_fee          | units | 0       | 0   | 10**24    | smallest fee a transaction may pay        |
| max_block_txs    | count | 20_000  | 1   | 1_000_000 | most transactions in one block            |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from nnet.errors import MalformedInput

__all__ = [
    "PARAMS",
    "ParamSpec",
    "StateReader",
    "check_param",
    "get_param",
    "get_params_view",
    "param_key",
]


class StateReader(Protocol):
    def get(self, key: str) -> Any: ...


@dataclass(frozen=True)
class ParamSpec:
    """One row of the table. `kind`: "count" (an integer), "units" (an amount), "ppm" (a share)."""

    name: str
    kind: str
    default: int
    min: int
    max: int
    doc: str


PARAMS: dict[str, ParamSpec] = {
    p.name: p
    for p in (
        ParamSpec("epoch_blocks", "count", 100, 2, 1_000_000, "blocks per epoch"),
        ParamSpec(
            "unbonding_epochs", "count", 7, 0, 10_000, "full epochs an unstaked amount stays locked"
        ),
        ParamSpec("min_fee", "units", 0, 0, 10**24, "smallest fee a transaction may pay"),
        ParamSpec("max_block_txs", "count", 20_000, 1, 1_000_000, "most transactions in one block"),
        # governance (chain/governance.py, docs/governance.md); ppm = parts per million
        ParamSpec(
            "gov_deposit_epochs", "count", 2, 1, 10_000, "epochs a proposal may gather deposits"
        ),
        ParamSpec(
            "gov_voting_epochs", "count", 2, 1, 10_000, "epochs a proposal is open for votes"
        ),
        ParamSpec("gov_min_deposit", "units", 100 * 10**18, 0, 10**27, "deposit that opens voting"),
        ParamSpec(
            "gov_quorum_ppm", "ppm", 334_000, 0, 1_000_000, "share of bonded stake that must vote"
        ),
        ParamSpec("gov_threshold_ppm", "ppm", 500_000, 1, 1_000_000, "yes share needed to pass"),
        ParamSpec(
            "gov_veto_ppm", "ppm", 334_000, 1, 1_000_000, "veto share that rejects and burns"
        ),
        ParamSpec(
            "gov_reputation_bonus_ppm",
            "ppm",
            200_000,
            0,
            1_000_000,
            "extra voting weight of a node at full reputation",
        ),
    )
}


def param_key(name: str) -> str:
    return f"param/{name}"


def check_param(name: str, value: object) -> int:
    """A parameter value as an int, refusing unknown names and values outside the bounds."""
    spec = PARAMS.get(name)
    if spec is None:
        raise MalformedInput(f"unknown parameter {name!r}", hint=f"known: {', '.join(PARAMS)}")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInput(f"parameter {name} must be an integer")
    if not spec.min <= value <= spec.max:
        raise MalformedInput(f"parameter {name} = {value} is outside [{spec.min}, {spec.max}]")
    return value


def get_param(state: StateReader, name: str) -> int:
    """The current value of a parameter (its default if the state has never set it)."""
    value = state.get(param_key(name))
    return PARAMS[name].default if value is None else int(value)


def get_params_view(state: StateReader) -> dict[str, dict[str, Any]]:
    """The table as the daemon serves it: amounts as decimal strings, counts as integers."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in PARAMS.items():
        value = get_param(state, name)
        if spec.kind == "units":
            out[name] = {
                "value": str(value),
                "min": str(spec.min),
                "max": str(spec.max),
                "kind": spec.kind,
                "doc": spec.doc,
            }
        else:
            out[name] = {
                "value": value,
                "min": spec.min,
                "max": spec.max,
                "kind": spec.kind,
                "doc": spec.doc,
            }
    return out
