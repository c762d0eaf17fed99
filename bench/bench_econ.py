"""Tokenomics benchmarks: epoch processing and a claim are O(1) in stakers; simulations are fast.

    .venv/bin/python bench/bench_econ.py [--json] [--hourly]

Measures, single-threaded:
  1. process_epoch_economics (100 nodes) and one staker's claim, with 10 and with 100,000 stakers
     sharing the same total stake (median of many runs); for contrast, a naive "push" payout that
     credits every staker each epoch. After the timed runs it checks that the 100,000 claims add
     up to the escrowed reward within floor dust (so the O(1) path is also the exact one).
  2. wall time of a 20-year `nnet econ simulate` run per scenario at 365 epochs a year
     (and, with --hourly, one scenario at 8,760 epochs a year).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable

from nnet.econ.epoch import EpochInputs, process_epoch_economics
from nnet.econ.fixedpoint import fraction_to_ppb
from nnet.econ.params import EconParams
from nnet.econ.pools import compute_genesis_pools
from nnet.econ.rewards import RewardAccumulator, StakePosition, process_claim
from nnet.econ.simulate import SCENARIOS, SimOptions, run_simulation
from nnet.encoding import UNIT

GENESIS = 10**9 * UNIT
PARAMS = EconParams()


def median_us(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def epoch_inputs(total_staked: int, acc: RewardAccumulator) -> EpochInputs:
    pools = compute_genesis_pools(GENESIS)
    pools["public"] = 0
    return EpochInputs(
        epoch=100,
        demand=PARAMS.demand_target // PARAMS.epochs_per_year,
        compute_by_node={f"node{i}": PARAMS.compute_ref // 365 for i in range(100)},
        active_nodes=100,
        total_staked=total_staked,
        total_supply=GENESIS,
        pools=pools,
        fees_collected=1000 * UNIT,
        inflation_ppb=fraction_to_ppb(PARAMS.target_inflation),
        accumulator=acc,
    )


def bench_stakers(n: int) -> dict[str, float | int]:
    total = 600_000_000 * UNIT
    stakes = [total // n] * n
    stakes[0] += total - sum(stakes)
    positions = [StakePosition(s, 0) for s in stakes]
    inp = epoch_inputs(total, RewardAccumulator())
    epoch_us = median_us(lambda: process_epoch_economics(PARAMS, inp), 300)
    out = process_epoch_economics(PARAMS, inp)
    claim_us = median_us(lambda: process_claim(out.accumulator, positions[n // 2]), 3000)

    def push() -> None:  # what the accumulator avoids: touch every staker every epoch
        reward = out.staking_reward
        for i, s in enumerate(stakes):
            positions[i] = StakePosition(s + reward * s // total, 0)

    push_us = median_us(push, 5 if n > 1000 else 300)
    claimed = sum(
        process_claim(out.accumulator, p)[0] for p in (StakePosition(s, 0) for s in stakes)
    )
    dust = out.staking_reward - claimed
    assert 0 <= dust <= n, dust
    return {
        "stakers": n,
        "epoch_us": round(epoch_us, 1),
        "claim_us": round(claim_us, 2),
        "naive_push_us": round(push_us, 1),
        "claims_total_dust_units": dust,
    }


def bench_simulation(scenario: str, epochs_per_year: int) -> dict[str, float | int | str]:
    params = PARAMS.with_changes({"epochs_per_year": epochs_per_year})
    t = time.perf_counter()
    rows = list(run_simulation(SimOptions(scenario=scenario, years=20, params=params)))
    return {
        "scenario": scenario,
        "epochs": 20 * epochs_per_year,
        "rows": len(rows),
        "seconds": round(time.perf_counter() - t, 2),
    }


def main() -> None:
    results: dict[str, list[dict[str, float | int | str]]] = {
        "stakers": [bench_stakers(10), bench_stakers(100_000)],
        "simulate_20y": [bench_simulation(name, 365) for name in SCENARIOS],
    }
    if "--hourly" in sys.argv:
        results["simulate_20y"].append(bench_simulation("adoption", 8760))
    if "--json" in sys.argv:
        print(json.dumps(results))
        return
    print("stakers  epoch (us)  claim (us)  naive push (us)  dust of all claims (units)")
    for r in results["stakers"]:
        print(
            f"{r['stakers']:>7}  {r['epoch_us']:>10}  {r['claim_us']:>10}  "
            f"{r['naive_push_us']:>15}  {r['claims_total_dust_units']:>10}"
        )
    print("\n20-year simulations")
    for r in results["simulate_20y"]:
        print(f"  {r['scenario']:<16} {r['epochs']:>7} epochs  {r['seconds']:>6} s")


if __name__ == "__main__":
    main()
