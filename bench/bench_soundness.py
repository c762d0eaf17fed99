"""Soundness against skipped compute (POL.md, "Detection"): detection curve and verification cost.

A job of N segments (default 1000: a tiny MLP on synthetic data, checkpoint.every = k steps) is
trained honestly, then cheats that skip a fraction f of its compute are built the way a prover
would build them (nnet.proof.forgery: real training where they train, fabricated states
elsewhere, then forge_run so files, trace, final model, metrics and manifest agree, and a signed
proof):

- skip: f of the segments (never the last) are not trained; each end state is extrapolated from
  the previous update and training goes on honestly from it (each skipped segment is one faked
  segment, and the run stays close to a real one);
- NaN copies: honest for 2 % of the run, one jump to all-NaN weights, copies to the end;
- saturated copies (weight decay 0): honest until the model fits the training set, one jump to a
  zero-gradient fixed point (output layer scaled until softmax is exactly one-hot), copies to
  the end (each copy replays bit for bit);
- decay only (weight decay 5e-4): the same fixed point for 5 % of the run, the cheat computing
  only the weight decay (the weights keep changing, the trace looks alive), then a jump back out
  and honest training to the end.

Detection is measured as the verifier would reach it: the real verifier replays every segment once
(q = N) and its reasons name which segments fail; then D challenges (compute_challenge with the
chain's Q = compute_required_q(N), plus the last segment, which the verifier always replays) give
the share of runs caught, next to the exact hypergeometric compute_detection(N, Q, m) for the m
failing segments. A few challenges are also judged by the real verifier at Q, to check the table.
The cost table times an honest verification at Q against training.

Usage: python bench/bench_soundness.py [--segments 1000] [--every 1] [--draws 10000] [--quick]
       [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import tomli_w
import torch

from nnet.econ.soundness import compute_detection, compute_detection_bound, compute_required_q
from nnet.proof.challenge import compute_challenge
from nnet.proof.commitment import make_proof
from nnet.proof.forgery import (
    JobOfRecord,
    decay_only,
    first_fit,
    nan_copies,
    saturated_copies,
    skip_segments,
)
from nnet.proof.rundir import RunDir
from nnet.proof.spec import load_spec
from nnet.proof.trainer import train
from nnet.proof.verifier import Verdict, VerifyOptions, verify_proof

SECRET = bytes(range(1, 33))
FRACTIONS = (0.01, 0.02, 0.05, 0.10, 0.20, 0.50)


def describe_machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {sys.version.split()[0]}, torch {torch.__version__}, 1 thread (job.threads)"
    )


# ---- the job ----------------------------------------------------------------------------------
class Job(JobOfRecord):
    """The job of record (proof/forgery) with its N and the chain's Q for it."""

    @property
    def n(self) -> int:
        return self.segments

    @cached_property
    def q(self) -> int:
        return compute_required_q(self.n)


def write_job(where: Path, segments: int, every: int, weight_decay: float) -> Path:
    from safetensors.torch import save_file

    data = where / "tiny.safetensors"
    if not data.exists():  # a learnable set: labels from a random linear map of the inputs
        g = torch.Generator().manual_seed(0)
        x = torch.randn(600, 2, 8, 8, generator=g)
        w = torch.randn(128, 3, generator=torch.Generator().manual_seed(0))
        save_file({"x": x, "y": (x.reshape(600, -1) @ w).argmax(1)}, str(data))
    doc = {
        "job": {"seed": 7, "steps": segments * every, "batch_size": 32},
        "model": {"name": "mlp", "hidden": [32]},
        "data": {"path": str(data), "holdout": 100},
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": weight_decay},
        "checkpoint": {"every": every, "keep_every": 1},
    }
    path = where / f"job-wd{weight_decay:g}.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


# ---- the cheats (proof/forgery) --------------------------------------------------------------
def cheat_skip(job: Job, f: float, rng: random.Random, dest: Path) -> tuple[RunDir, int]:
    skipped = set(rng.sample(range(1, job.n - 1), max(1, round(f * job.n))))
    return skip_segments(job, skipped).forge(dest), len(skipped)


def cheat_nan(job: Job, dest: Path) -> tuple[RunDir, int]:
    j = max(1, job.n // 50)
    return nan_copies(job, after=j).forge(dest), job.n - j


def cheat_saturated(job: Job, dest: Path) -> tuple[RunDir, int]:
    j = first_fit(job)
    return saturated_copies(job, after=j).forge(dest), job.n - j


def cheat_decay(wd_job: Job, dest: Path) -> tuple[RunDir, int]:
    cheat, never = decay_only(wd_job, round(0.05 * wd_job.n))
    return cheat.forge(dest), len(never)


# ---- judging ----------------------------------------------------------------------------------
SEGMENT_REASON = re.compile(r"(?:replay|absorbing|tolerance): segment (\d+) \(")
CHECKPOINT_REASON = re.compile(r"(?:opening|checkpoint): checkpoint (\d+)\b")


def verify(job: Job, run: RunDir, proof: dict[str, Any], seed: bytes, q: int) -> Verdict:
    return verify_proof(proof, run, VerifyOptions(spec=load_spec(job.path), q=q, seed=seed))


def segment_table(job: Job, v: Verdict) -> tuple[set[int], list[str]]:
    """(segments that fail replay, reasons that fail the run whatever is challenged)."""
    failing: set[int] = set()
    always = []
    for r in v.reasons:
        if m := SEGMENT_REASON.match(r):
            failing.add(int(m.group(1)))
        elif m := CHECKPOINT_REASON.match(r):
            c = int(m.group(1))
            failing |= {s for s in (c - 1, c) if 0 <= s < job.n}
        else:
            always.append(r)
    return failing, always


def challenged(job: Job, seed: bytes) -> set[int]:
    return set(compute_challenge(seed, job.n, job.q)) | {job.n - 1}


def measure(
    job: Job, name: str, run: RunDir, skipped: int, draws: list[set[int]], rng: random.Random
) -> dict[str, Any]:
    """Which segments fail (the real verifier, q = N), the detection over `draws` challenges,
    and a few verdicts at Q checked against that table."""
    f = skipped / job.n
    proof = make_proof(run, SECRET)
    t0 = time.perf_counter()
    v = verify(job, run, proof, b"every-segment", job.n)
    full_s = time.perf_counter() - t0
    failing, always = segment_table(job, v)
    caught = sum(bool(always) or not failing.isdisjoint(c) for c in draws)
    measured = caught / len(draws)
    m = len(failing)
    exact = 1.0 if always or job.n - 1 in failing else float(compute_detection(job.n, job.q, m))
    checked = 0
    for _ in range(3):  # the table is honest: the real verifier at Q agrees with it
        seed = rng.randbytes(32)
        chal = challenged(job, seed)
        got = verify(job, run, proof, seed, job.q)
        want = not (always or not failing.isdisjoint(chal))
        if got.accept != want:
            raise AssertionError(f"{name}: the verifier disagrees with the table: {got.reasons}")
        checked += 1
    return {
        "cheat": name,
        "skipped_segments": skipped,
        "skipped_pct": round(100 * f, 2),
        "failing_segments": m,
        "caught_by": "trace (every challenge)" if always else "replay of a challenged segment",
        "measured": measured,
        "stderr": math.sqrt(exact * (1 - exact) / len(draws)),  # of a draws-sized estimate
        "exact": exact,
        "with_replacement": float(compute_detection_bound(job.q, round(f * 1_000_000))),
        "verdicts_checked": checked,
        "verify_all_s": round(full_s, 2),
    }


def bench_detection(
    job: Job, wd_job: Job, tmp: Path, draws: int, seed: int, absorbing: bool
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    challenges = [challenged(job, rng.randbytes(32)) for _ in range(draws)]
    rows = []
    for f in FRACTIONS:
        run, skipped = cheat_skip(job, f, rng, tmp / f"skip-{f}")
        rows.append(measure(job, "skip (extrapolate)", run, skipped, challenges, rng))
        print(f"  measured {rows[-1]['cheat']} f = {f:g}", file=sys.stderr, flush=True)
    if absorbing:
        for name, build, j in (
            ("NaN copies", cheat_nan, job),
            ("saturated copies, wd 0", cheat_saturated, job),
            ("decay only, wd 5e-4", cheat_decay, wd_job),
        ):
            run, skipped = build(j, tmp / name.replace(" ", "-").replace(",", ""))
            rows.append(measure(j, name, run, skipped, challenges, rng))
            print(f"  measured {name}", file=sys.stderr, flush=True)
    return rows


def bench_cost(job: Job, train_s: float, reps: int) -> dict[str, Any]:
    proof = make_proof(job.honest, SECRET)
    verify(job, job.honest, proof, b"warm-up", job.q)
    times, steps = [], 0
    for i in range(reps):
        t0 = time.perf_counter()
        v = verify(job, job.honest, proof, f"cost-{i}".encode(), job.q)
        times.append(time.perf_counter() - t0)
        assert v.accept, v.reasons
        steps = v.replayed_steps
    t0 = time.perf_counter()
    v = verify(job, job.honest, proof, b"all", job.n)
    all_s = time.perf_counter() - t0
    return {
        "segments": job.n,
        "every": job.spec.every,
        "q": job.q,
        "detection_at_10pct": float(compute_detection(job.n, job.q, math.ceil(job.n / 10))),
        "train_steps": job.spec.steps,
        "train_s": round(train_s, 2),
        "replayed_steps": steps,
        "replayed_pct": round(100 * steps / job.spec.steps, 2),
        "verify_s": round(statistics.median(times), 3),
        "verify_over_train_pct": round(100 * statistics.median(times) / train_s, 1),
        "verify_every_segment_s": round(all_s, 2),
    }


def print_tables(machine: str, rows: list[dict[str, Any]], cost: dict[str, Any], d: int) -> None:
    print(f"Machine: {machine}\n")
    print(
        f"Detection against skipped compute: N = {cost['segments']} segments of "
        f"{cost['every']} step(s), Q = {cost['q']} (+ the last segment), {d} challenges; "
        "segments failing replay measured by the real verifier (q = N)\n"
    )
    print(
        "| cheat | skipped compute f | skipped segments | failing segments m | caught by "
        "| measured (± 2 se) | exact P(N, Q, m) | 1 − (1 − f)^Q |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for r in rows:
        trace = r["caught_by"].startswith("trace")
        exact = "1 (trace)" if trace else f"{r['exact']:.4f}"
        m = r["failing_segments"] if r["failing_segments"] or not trace else "— (not replayed)"
        print(
            f"| {r['cheat']} | {r['skipped_pct']:g} % | {r['skipped_segments']} | {m} "
            f"| {r['caught_by']} | {r['measured']:.4f} ± {2 * r['stderr']:.4f} | {exact} "
            f"| {r['with_replacement']:.4f} |"
        )
    c = cost
    print(
        f"\nVerification cost at the default target (99 % at 10 % skipped: exact "
        f"{c['detection_at_10pct']:.4f})\n"
    )
    print(
        "| N | k | Q | training steps | training s | replayed steps | replayed | verify s "
        "| verify / train | replaying every segment s |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {c['segments']} | {c['every']} | {c['q']} | {c['train_steps']} | {c['train_s']} "
        f"| {c['replayed_steps']} | {c['replayed_pct']} % | {c['verify_s']} "
        f"| {c['verify_over_train_pct']} % | {c['verify_every_segment_s']} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=1000, help="N, segments of the job")
    ap.add_argument("--every", type=int, default=1, help="checkpoint.every (steps a segment)")
    ap.add_argument("--draws", type=int, default=10_000, help="challenges per cheat")
    ap.add_argument("--seed", type=int, default=1, help="seed of the seeds (reproducible runs)")
    ap.add_argument("--reps", type=int, default=5, help="timed honest verifications")
    ap.add_argument("--quick", action="store_true", help="N = 200, 1000 draws (a smoke test)")
    ap.add_argument("--no-absorbing", action="store_true", help="skip the absorbing-state cheats")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = ap.parse_args()
    segments, draws = (200, 1000) if args.quick else (args.segments, args.draws)
    torch.set_num_threads(1)
    machine = describe_machine()
    with tempfile.TemporaryDirectory(prefix="nnet-bench-soundness-") as d:
        tmp = Path(d)
        torch.optim.SGD([torch.zeros(1, requires_grad=True)])  # torch's lazy imports
        path = write_job(tmp, segments, args.every, 0.0)
        t0 = time.perf_counter()
        train(load_spec(path), tmp / "honest")
        train_s = time.perf_counter() - t0
        job = Job(path, RunDir(tmp / "honest"))
        wd_job = Job(write_job(tmp, segments, args.every, 5e-4), job.honest)
        cost = bench_cost(job, train_s, args.reps)
        rows = bench_detection(job, wd_job, tmp, draws, args.seed, not args.no_absorbing)
    if args.json:
        print(json.dumps({"machine": machine, "detection": rows, "cost": cost}, indent=1))
    else:
        print_tables(machine, rows, cost, draws)


if __name__ == "__main__":
    main()
