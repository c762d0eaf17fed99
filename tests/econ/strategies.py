"""Hypothesis strategies shared by the econ tests: parameters within bounds, chain-like inputs."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from nnet.econ.epoch import EpochInputs
from nnet.econ.fixedpoint import PPB, fraction_to_ppb
from nnet.econ.params import PARAM_SPECS, EconParams, ParamSpec
from nnet.econ.pools import POOL_NAMES
from nnet.econ.rewards import RewardAccumulator
from nnet.encoding import UNIT

GENESIS = 10**9 * UNIT


def _value(spec: ParamSpec) -> st.SearchStrategy[Any]:
    if spec.kind == "rate":
        return st.fractions(min_value=spec.min, max_value=spec.max, max_denominator=1000)
    return st.integers(min_value=int(spec.min), max_value=int(spec.max))  # whole-number kinds


@st.composite
def any_params(draw: st.DrawFn) -> EconParams:
    """Any parameter set governance could vote in (every value within its bounds)."""
    values = {s.name: draw(_value(s)) for s in PARAM_SPECS}
    # epochs_per_year near its max makes each test slower without covering anything new
    values["epochs_per_year"] = draw(st.sampled_from([1, 12, 365, 8760, 31_536_000]))
    low, mid, high = sorted(
        draw(st.fractions(min_value=0, max_value=1, max_denominator=1000)) for _ in range(3)
    )
    values.update(inflation_min=low, target_inflation=mid, inflation_max=high)
    return EconParams(**values)


@st.composite
def any_epoch_inputs(draw: st.DrawFn, max_supply: int = 10**36) -> EpochInputs:
    """EpochInputs for any state a chain could be in, extremes included."""
    supply = draw(st.one_of(st.integers(0, max_supply), st.just(GENESIS), st.just(0)))
    staked = draw(st.integers(0, supply))
    # pools + fees <= supply: cut the supply at sorted points
    cuts = sorted(draw(st.integers(0, supply)) for _ in range(len(POOL_NAMES) + 1))
    parts = [b - a for a, b in zip([0, *cuts], cuts, strict=False)]
    pools = dict(zip(POOL_NAMES, parts[: len(POOL_NAMES)], strict=True))
    fees = parts[len(POOL_NAMES)]
    nodes = draw(
        st.dictionaries(
            st.text("abcdef", min_size=1, max_size=3), st.integers(0, 10**30), max_size=5
        )
    )
    active = len(nodes) + draw(st.integers(0, 10**6))
    return EpochInputs(
        epoch=draw(st.integers(0, 10**9)),
        demand=draw(st.one_of(st.just(0), st.integers(0, 10**36))),
        compute_by_node=nodes,
        active_nodes=active,
        total_staked=staked,
        total_supply=supply,
        pools=pools,
        fees_collected=fees,
        inflation_ppb=draw(st.integers(0, PPB)),
        accumulator=RewardAccumulator(draw(st.integers(0, 10**40)), draw(st.integers(0, 10**20))),
    )


def default_inflation(params: EconParams) -> int:
    return fraction_to_ppb(Fraction(params.target_inflation))
