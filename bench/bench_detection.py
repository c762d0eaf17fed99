"""Detection of faked training by the random challenge: exact, Monte-Carlo, and what it costs.

For each run length N the chain's default target (99 % detection at 10 % faked segments) gives
Q = compute_required_q(N). For a faked fraction f of the segments (m = ceil(f N) of them, spread
at random) the table shows the exact hypergeometric detection next to a Monte-Carlo estimate that
draws challenges with the real sampler (compute_challenge, one random seed per draw), the
with-replacement reference 1 - (1 - f)^Q, and the replay cost Q / N. A second table times
compute_required_q, which the chain may run per job.

The chain also always replays the last segment (chain/market.py); that only adds detection and
is left out here, so the numbers are what the random draw alone guarantees.

Usage: python bench/bench_detection.py [--draws 10000] [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from typing import Any

from nnet.econ.soundness import (
    DEFAULT_DETECTION_PPM,
    DEFAULT_FAKED_PPM,
    PPM,
    compute_detection,
    compute_detection_bound,
    compute_faked_segments,
    compute_required_q,
)
from nnet.proof.challenge import compute_challenge

RUN_LENGTHS = (10, 100, 1000, 10_000)
FAKED_PPM = (10_000, 20_000, 50_000, 100_000, 200_000, 500_000)  # 1, 2, 5, 10, 20, 50 %
TIMED_LENGTHS = (10, 100, 1000, 10**5, 10**6, 2**20)


def bench_run_length(n: int, draws: int, rng: random.Random) -> list[dict[str, Any]]:
    """Detection at every faked fraction for one N; one challenge per seed, reused for every f
    (each fraction's estimate is still over `draws` independent challenges)."""
    q = compute_required_q(n, DEFAULT_DETECTION_PPM, DEFAULT_FAKED_PPM)
    faked = {f: set(rng.sample(range(n), compute_faked_segments(n, f))) for f in FAKED_PPM}
    hits = dict.fromkeys(FAKED_PPM, 0)
    for _ in range(draws):
        challenged = compute_challenge(rng.randbytes(32), n, q)
        for f, segments in faked.items():
            if segments.intersection(challenged):
                hits[f] += 1
    rows = []
    for f in FAKED_PPM:
        m = len(faked[f])
        exact = compute_detection(n, q, m)
        estimate = hits[f] / draws
        rows.append(
            {
                "n": n,
                "q": q,
                "replay_fraction": q / n,
                "faked_pct": f / PPM * 100,
                "m": m,
                "exact": float(exact),
                "monte_carlo": estimate,
                "stderr": math.sqrt(float(exact * (1 - exact)) / draws),
                "with_replacement": float(compute_detection_bound(q, f)),
            }
        )
    return rows


def bench_required_q_time(n: int, repeats: int = 20) -> dict[str, Any]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        q = compute_required_q(n, DEFAULT_DETECTION_PPM, DEFAULT_FAKED_PPM)
        times.append(time.perf_counter() - t)
    return {"n": n, "q": q, "median_ms": statistics.median(times) * 1e3}


def print_tables(rows: list[dict[str, Any]], timings: list[dict[str, Any]], draws: int) -> None:
    print(
        f"Detection at the default target ({DEFAULT_DETECTION_PPM / 1e4:g} % at "
        f"{DEFAULT_FAKED_PPM / 1e4:g} % faked), Monte-Carlo over {draws} challenges\n"
    )
    print(
        "| N | Q | replay Q/N | faked f | faked segments m | exact P | Monte-Carlo (± 2 se) "
        "| 1 − (1 − f)^Q |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['n']} | {r['q']} | {r['replay_fraction']:.2%} | {r['faked_pct']:g} % "
            f"| {r['m']} | {r['exact']:.4f} | {r['monte_carlo']:.4f} ± {2 * r['stderr']:.4f} "
            f"| {r['with_replacement']:.4f} |"
        )
    print("\nTime of compute_required_q (median)\n")
    print("| N | Q | time (ms) |")
    print("| ---: | ---: | ---: |")
    for t in timings:
        print(f"| {t['n']} | {t['q']} | {t['median_ms']:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=10_000, help="challenges per run length")
    ap.add_argument("--seed", type=int, default=1, help="seed of the seeds (reproducible runs)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows = [row for n in RUN_LENGTHS for row in bench_run_length(n, args.draws, rng)]
    timings = [bench_required_q_time(n) for n in TIMED_LENGTHS]
    if args.json:
        print(json.dumps({"detection": rows, "required_q_time": timings}, indent=1))
    else:
        print_tables(rows, timings, args.draws)


if __name__ == "__main__":
    main()
