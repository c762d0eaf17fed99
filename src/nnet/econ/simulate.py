"""The simulator behind `nnet econ simulate`: years of epochs through process_epoch_economics.

Scenarios are named after the whitepaper's phases. Each gives demand, node count, work per node,
bonded share and fee level as piecewise-linear curves over years (exact Fractions), plus
governance changes at given years. The simulator feeds them to the same epoch function the chain
runs, keeps the chain-side state (supply, pools, inflation rate, reward accumulator) and checks the
conservation invariant after every epoch:

    circulating + pools + unclaimed staking rewards == genesis supply + minted   (to the base unit)

Simplifications, said plainly: stake is an input curve (stakers are one aggregate position that
claims every epoch through the accumulator); nodes are identical, so they are passed as one
aggregate entry and reward per node is the GPU total over N_n (the per-node split is linear).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from typing import Any

from nnet.econ.epoch import EpochInputs, process_epoch_economics
from nnet.econ.fixedpoint import PPB, floor_fraction, format_fraction, fraction_to_ppb
from nnet.econ.params import EconParams
from nnet.econ.pools import (
    GPU_POOL,
    PUBLIC_POOL,
    STAKING_POOL,
    TREASURY_POOL,
    compute_genesis_pools,
)
from nnet.econ.rewards import RewardAccumulator, StakePosition, process_stake_change
from nnet.encoding import UNIT, format_amount
from nnet.errors import UsageError

__all__ = ["SCENARIOS", "Scenario", "SimOptions", "compute_genesis_allocation", "run_simulation"]

Knots = Sequence[tuple[Fraction, Fraction]]
F = Fraction


def _k(
    *points: tuple[float | int | str, float | int | str],
) -> tuple[tuple[Fraction, Fraction], ...]:
    """Knots from literals; strings and ints go through Fraction exactly (no float rounding)."""
    return tuple((F(str(x)), F(str(y))) for x, y in points)


def get_curve_value(knots: Knots, year: Fraction) -> Fraction:
    """Piecewise-linear through the knots, flat outside them; a repeated year makes a step."""
    if year <= knots[0][0]:
        return knots[0][1]
    for (x0, y0), (x1, y1) in pairwise(knots):
        if x0 <= year < x1:
            return y0 + (y1 - y0) * (year - x0) / (x1 - x0)
    return knots[-1][1]


@dataclass(frozen=True)
class Scenario:
    """A phase of the network's life as curves over years."""

    name: str
    description: str
    demand: Knots  # job fees per year, as a multiple of demand_target (d)
    nodes: Knots  # active nodes N_n
    work: Knots  # verified work per node, as a multiple of compute_ref (c)
    bonded: Knots  # staked share of supply
    fee_ratio: Knots  # transaction fees collected, as a share of job demand
    governance: tuple[tuple[int, dict[str, str]], ...] = ()  # (year, parameter changes)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "adoption",
            "demand grows 0.2x -> 6x target over 20 years, nodes 20 -> 1000, fees take over",
            demand=_k((0, "0.2"), (3, 1), (6, "2.5"), (10, 4), (20, 6)),
            nodes=_k((0, 20), (3, 100), (6, 300), (10, 600), (20, 1000)),
            work=_k((0, 1), (20, 2)),
            bonded=_k((0, "0.3"), (3, "0.55"), (6, "0.65")),
            fee_ratio=_k((0, "0.05"), (10, "0.3"), (20, "0.5")),
        ),
        Scenario(
            "high-efficiency",
            "GPUs get 4x better and models need less training: demand peaks, falls, recovers",
            demand=_k((0, "0.5"), (4, 2), (8, "0.6"), (20, 1)),
            nodes=_k((0, 50), (4, 200), (8, 150), (20, 150)),
            work=_k((0, 1), (8, 4), (20, 4)),
            bonded=_k((0, "0.4"), (4, "0.6")),
            fee_ratio=_k((0, "0.05"), (20, "0.3")),
        ),
        Scenario(
            "low-demand",
            "demand stays at 0.15x target; in year 3 governance pays stakers more, mints less",
            demand=_k((0, "0.15"), (20, "0.15")),
            nodes=_k((0, 30), (5, 15)),
            work=_k((0, 1)),
            bonded=_k((0, "0.5")),
            fee_ratio=_k((0, "0.05")),
            governance=((3, {"staking_share": "0.6", "target_inflation": "0.02"}),),
        ),
        Scenario(
            "demand-shock",
            "demand climbs to 2.5x, collapses to zero in year 5 for 1.5 years, then recovers",
            demand=_k((0, 1), (4, "2.5"), (5, "2.5"), (5, 0), ("6.5", 0), (8, "1.5"), (20, 2)),
            nodes=_k((0, 100), (5, 150), ("5.5", 60), (8, 120), (20, 200)),
            work=_k((0, 1), (20, "1.5")),
            bonded=_k((0, "0.5"), (5, "0.6"), (6, "0.4"), (8, "0.6")),
            fee_ratio=_k((0, "0.1"), (20, "0.3")),
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UsageError(
            f"unknown scenario {name!r}", hint="choose one of: " + ", ".join(SCENARIOS)
        ) from None


@dataclass(frozen=True)
class SimOptions:
    scenario: str = "adoption"
    years: int = 20
    genesis_supply: int = 1_000_000_000 * UNIT
    every: int | None = None  # epochs between recorded rows; default about monthly
    params: EconParams = field(default_factory=EconParams)


def _nnet(units: int) -> str:
    """NNET with 6 decimals (truncated): plenty for charts and spreadsheets."""
    return format_amount(units - units % 10**12)


def _pct(value: Fraction) -> str:
    return format_fraction(value * 100, 6)


def compute_genesis_allocation(genesis_supply: int) -> tuple[dict[str, int], int]:
    """The simulated genesis: the chain's pool split (econ/pools.py, the one table), with the
    whole `public` allocation moved out to circulating balances, as the chain's genesis pays
    funded accounts and validator stakes out of it. Returns (pools, circulating)."""
    pools = compute_genesis_pools(genesis_supply)
    circulating, pools[PUBLIC_POOL] = pools[PUBLIC_POOL], 0
    return pools, circulating


def run_simulation(
    options: SimOptions, progress: Callable[[int, int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield one row (dict of strings and ints) every `every` epochs and at each year end."""
    if not 1 <= options.years <= 1000:
        raise UsageError(f"a simulation runs 1 to 1000 years, not {options.years}")
    scenario = get_scenario(options.scenario)
    params = options.params
    epy = params.epochs_per_year
    total_epochs = options.years * epy
    every = options.every or max(1, epy // 12)
    if every < 1:
        raise UsageError(f"rows come every 1 or more epochs, not {every}")
    changes = dict(scenario.governance)

    pools, circulating = compute_genesis_allocation(options.genesis_supply)
    supply, minted_total = options.genesis_supply, 0
    inflation = fraction_to_ppb(params.target_inflation)
    acc, stakers = RewardAccumulator(), StakePosition(0, 0)
    escrow = 0  # staking rewards accrued but not yet claimed

    for epoch in range(total_epochs):
        year_start, into = divmod(epoch, epy)
        if into == 0 and year_start in changes:
            params = params.with_text_changes(changes[year_start])
        year = F(epoch, epy)
        stake = floor_fraction(supply * get_curve_value(scenario.bonded, year))
        claimed, stakers = process_stake_change(acc, stakers, stake)
        escrow -= claimed
        circulating += claimed
        n_nodes = floor_fraction(get_curve_value(scenario.nodes, year))
        work = floor_fraction(
            get_curve_value(scenario.work, year) * params.compute_ref * n_nodes / epy
        )
        demand = floor_fraction(get_curve_value(scenario.demand, year) * params.demand_target / epy)
        fees = min(circulating, floor_fraction(demand * get_curve_value(scenario.fee_ratio, year)))
        circulating -= fees
        outcome = process_epoch_economics(
            params,
            EpochInputs(
                epoch=epoch,
                demand=demand,
                compute_by_node={"nodes": work} if n_nodes and work else {},
                active_nodes=n_nodes,
                total_staked=stake,
                total_supply=supply,
                pools=pools,
                fees_collected=fees,
                inflation_ppb=inflation,
                accumulator=acc,
            ),
        )
        pools, supply, inflation, acc = (
            outcome.pools,
            outcome.total_supply,
            outcome.inflation_ppb,
            outcome.accumulator,
        )
        minted_total += outcome.minted
        escrow += outcome.staking_reward
        circulating += outcome.gpu_reward
        if circulating + sum(pools.values()) + escrow != options.genesis_supply + minted_total:
            raise AssertionError(f"conservation broken at epoch {epoch}")  # a bug, never input
        if supply > params.max_supply and outcome.minted:
            raise AssertionError(f"supply cap passed at epoch {epoch}")
        if progress is not None:
            progress(epoch + 1, total_epochs)
        if (epoch + 1) % every and (epoch + 1) % epy:  # every N epochs, and each year end
            continue
        rewards = outcome.staking_reward + outcome.gpu_reward
        from_fees = outcome.funding.fees_to_staking + outcome.funding.fees_to_gpu
        yield {
            "scenario": scenario.name,
            "epoch": epoch + 1,
            "year": format_fraction(F(epoch + 1, epy), 4),
            "supply_nnet": _nnet(supply),
            "minted_nnet": _nnet(minted_total),
            "inflation_pct": _pct(F(outcome.minted * epy, outcome.total_supply - outcome.minted)),
            "mint_ceiling_pct": _pct(F(inflation, PPB)),
            "staking_apy_pct": _pct(outcome.realised_apy(params, stake)),
            "Y_pct": _pct(outcome.Y),
            "reward_per_node_nnet_year": _nnet(outcome.gpu_reward * epy // n_nodes)
            if n_nodes
            else "0",
            "fee_share_pct": _pct(F(from_fees, rewards)) if rewards else "0",
            "demand_index": format_fraction(outcome.indices.d, 6),
            "active_nodes": n_nodes,
            "staked_nnet": _nnet(stake),
            "staking_pool_nnet": _nnet(pools[STAKING_POOL]),
            "gpu_pool_nnet": _nnet(pools[GPU_POOL]),
            "treasury_nnet": _nnet(pools[TREASURY_POOL]),
            "max_reward_pool_nnet_year": _nnet(outcome.max_reward_pool),
            "shortfall_nnet": _nnet(outcome.funding.shortfall),
        }
