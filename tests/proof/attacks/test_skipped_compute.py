"""Skipped compute, not faked segments (POL.md, "Detection"): the cheats that got fakes paid.

The old suite used jobs with N <= Q segments, so every segment was replayed and sampling was never
tested. Here the job has N = 500 one-step segments and the chain's challenge size at the default
target is Q = compute_required_q(N) = 42, so N > 10 Q and a verifier replays < 10 % of the run.

Each cheat is built the way a cheating prover would build it (nnet.proof.forgery): the honest
prefix is really trained, the rest is fabricated, then `forge_run` rewrites files, trace, final
model and manifest (and the metrics, recomputed from the forged final model) so that the proof is
well formed and signed.

1. an all-NaN absorbing state, copied onward: rejected by the trace for every challenge;
2. a zero-gradient fixed point (a saturated softmax) copied onward with weight decay 0: each copy
   replays bit for bit, yet every challenge rejects it because the trace shows frozen weights;
3. the same fixed point with weight decay > 0, the cheat computing only the decay: the trace looks
   alive, and only replaying a segment of the region (all gradients zero) catches it;
4. a cheat skipping a fraction f of the compute: which segments fail replay is measured once with
   the real verifier (q = N), then 10,000 challenges give the detection, which must match the
   exact hypergeometric compute_detection(N, Q, m); at f = 10 % it is >= 99 %;
5. an honest verification replays at most Q + 1 segments; 6. the honest run is always accepted.
"""

from __future__ import annotations

import math
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from nnet.econ.soundness import compute_detection, compute_required_q
from nnet.proof.challenge import compute_challenge
from nnet.proof.checkpoint import hash_checkpoint
from nnet.proof.commitment import make_proof
from nnet.proof.engine import SegmentStats, evaluate
from nnet.proof.forgery import (
    Cheat,
    JobOfRecord,
    Tensors,
    decay_only,
    first_fit,
    load_model,
    nan_copies,
    nan_state,
    saturate,
    saturated_copies,
    skip_segments,
    training_fit,
)
from nnet.proof.replay import replay_segment
from nnet.proof.rundir import RunDir
from nnet.proof.spec import load_spec
from nnet.proof.trace import TraceEntry, check_trace, format_loss
from nnet.proof.trainer import train
from nnet.proof.verifier import Verdict, VerifyOptions, verify_proof

WriteSpec = Callable[..., Path]

N = 500  # segments: steps = N, checkpoint.every = 1
Q = compute_required_q(N)  # the chain's challenge at the default target (99 % at 10 % faked)
DRAWS = 10_000  # Monte-Carlo challenges
SECRET = bytes(range(1, 33))
JOB: dict[str, Any] = {"job": {"steps": N}, "checkpoint": {"every": 1, "keep_every": 1}}


def test_sizes_are_realistic() -> None:
    assert N >= 10 * Q, (N, Q)  # sampling is really tested: most segments are never replayed


# ---- jobs, runs and verdicts ---------------------------------------------------------------
@dataclass
class Job(JobOfRecord):
    """A job of record, its data, and the honest run forgeries start from (see proof/forgery)."""

    train_s: float = 0.0


@pytest.fixture(scope="module")
def job(workdir: Path, write_spec: WriteSpec) -> Job:
    """The job (weight decay 0) and its honest run, trained for real."""
    path = write_spec("skip", **JOB)
    torch.optim.SGD([torch.zeros(1, requires_grad=True)])  # torch's lazy imports, not training
    t0 = time.perf_counter()
    train(load_spec(path), workdir / "skip-honest")
    return Job(path, RunDir(workdir / "skip-honest"), train_s=time.perf_counter() - t0)


@pytest.fixture(scope="module")
def wd_job(job: Job, write_spec: WriteSpec) -> Job:
    """The same job with weight decay 5e-4 (forgeries are rewritten to claim it)."""
    path = write_spec("skip-wd", **JOB, optimizer={"weight_decay": 5e-4})
    return Job(path, job.honest)


_PROOFS: dict[Path, dict[str, Any]] = {}


def prove(run: RunDir) -> dict[str, Any]:
    """The signed proof over a finished (or forged) run; made once per run."""
    if run.root not in _PROOFS:
        _PROOFS[run.root] = make_proof(run, SECRET)
    return _PROOFS[run.root]


def verify(job: Job, run: RunDir, seed: bytes, q: int | None = Q) -> Verdict:
    """The real verifier, against the job of record, with the chain's Q unless told."""
    opts = VerifyOptions(spec=load_spec(job.path), q=q, seed=seed)
    return verify_proof(prove(run), run, opts)


def challenged(seed: bytes) -> set[int]:
    """What the verifier replays for a challenge seed: Q random segments plus the last one."""
    return set(compute_challenge(seed, N, Q)) | {N - 1}


def seeds(tag: str, count: int, keep: Callable[[set[int]], bool] = lambda _: True) -> list[bytes]:
    """`count` challenge seeds whose challenge satisfies `keep`."""
    out: list[bytes] = []
    for i in range(100_000):
        seed = f"{tag}-{i}".encode()
        if keep(challenged(seed)):
            out.append(seed)
            if len(out) == count:
                return out
    raise AssertionError(f"no {count} seeds found for {tag}")


SEGMENT_REASON = re.compile(r"(?:replay|absorbing|tolerance): segment (\d+) \(")
CHECKPOINT_REASON = re.compile(r"(?:opening|checkpoint): checkpoint (\d+)\b")


@dataclass(frozen=True)
class Table:
    """Which segments fail replay (from reasons naming a segment or one of its checkpoints), and
    the reasons that fail the run whatever is challenged (trace, metrics, ...)."""

    failing: frozenset[int]
    always: tuple[str, ...]

    @classmethod
    def of(cls, v: Verdict) -> Table:
        failing: set[int] = set()
        always = []
        for r in v.reasons:
            if m := SEGMENT_REASON.match(r):
                failing.add(int(m.group(1)))
            elif m := CHECKPOINT_REASON.match(r):  # a bad checkpoint fails both its segments
                failing |= {s for s in (int(m.group(1)) - 1, int(m.group(1))) if 0 <= s < N}
            else:
                always.append(r)
        return cls(frozenset(failing), tuple(always))

    def caught(self, challenge: set[int]) -> bool:
        return bool(self.always) or not self.failing.isdisjoint(challenge)


def measure_table(job: Job, run: RunDir) -> tuple[Table, Verdict]:
    """Replay every segment once with the real verifier (q = N) and record what fails."""
    v = verify(job, run, b"every-segment", q=N)
    assert v.challenge["segments"] == list(range(N))
    return Table.of(v), v


def check_verdict_against_table(v: Verdict, table: Table, seed: bytes) -> None:
    """A verdict at the default Q is what the per-segment table predicts for its challenge."""
    chal = challenged(seed)
    assert v.challenge["segments"] == sorted(chal)
    assert v.accept == (not table.caught(chal)), (seed, v.reasons)
    assert Table.of(v).failing & chal == table.failing & chal, (seed, v.reasons)


@pytest.fixture(scope="module")
def draws() -> list[set[int]]:
    """DRAWS challenges from random seeds, each with the always-replayed last segment."""
    rng = random.Random(20_251_125)
    return [challenged(rng.randbytes(32)) for _ in range(DRAWS)]


def monte_carlo(table: Table, draws: list[set[int]]) -> tuple[float, float, float]:
    """(measured detection, exact detection, standard error of the measurement)."""
    assert N - 1 not in table.failing and not table.always  # else every challenge catches it
    measured = sum(table.caught(c) for c in draws) / len(draws)
    exact = float(compute_detection(N, Q, len(table.failing)))
    return measured, exact, math.sqrt(exact * (1 - exact) / len(draws))


def assert_matches(measured: float, exact: float, se: float) -> None:
    assert abs(measured - exact) <= 4 * max(se, 1 / DRAWS), (measured, exact, se)


# ---- the cheat's tools (proof/forgery) -----------------------------------------------------
def trace_reasons(job: Job, run: RunDir) -> list[str]:
    """What check_trace (every entry, no replay) finds in a run's committed trace."""
    entries: list[TraceEntry] = run.read_trace()
    proof = prove(run)
    root = bytes.fromhex(proof["root"][2:])
    return check_trace(entries, job.spec.checkpoint_step, root, proof["init"], proof["final"])


# ---- the zero-gradient fixed point ---------------------------------------------------------
def assert_zero_gradient(job: Job, st: Tensors) -> None:
    """Softmax is exactly one-hot on every training example, and a real training step (forward,
    backward, optimizer) sees nothing but zero gradients."""
    model = load_model(job.spec, job.data, st)
    with torch.no_grad():
        p = torch.softmax(model(job.data.x[: job.data.n_train]), dim=1)
    onehot = torch.nn.functional.one_hot(job.data.y[: job.data.n_train], p.shape[1]).float()
    assert torch.equal(p, onehot)
    stats = SegmentStats(track_grads=True)
    replay_segment(job.spec, job.data, st, int(st["meta.step"][0]) + 1, stats=stats)
    assert not stats.any_gradient() and stats.mean_loss() == 0.0


@pytest.fixture(scope="module")
def fitted(job: Job) -> int:
    """The first honest checkpoint (every 10th) that classifies every training example right:
    from there the cheat can jump to a saturated model."""
    i = first_fit(job)
    assert i % 10 == 0 and training_fit(job, job.honest_state(i))[0] == 1.0
    return i


def heldout_accuracy(job: Job, st: Tensors) -> float:
    model = load_model(job.spec, job.data, st)
    return float(evaluate(job.spec, job.data, model)["heldout_accuracy"])


# ---- 1. an all-NaN absorbing state ---------------------------------------------------------
FROZEN = re.compile(r"absorbing: segments .* leave the weights unchanged")
NON_FINITE = re.compile(r"trace: segments ending at checkpoints .* commit no finite loss")


@pytest.mark.slow
def test_nan_absorbing_state_rejected_for_every_seed(tmp_path: Path, job: Job) -> None:
    """Honest for 20 segments, one jump to all-NaN weights, then copies (consecutive steps) to the
    end: 96 % of the compute skipped. The trace commits the NaN losses that such a run has, and
    its weights freeze: both are visible in the trace, whichever segments are challenged."""
    run = nan_copies(job, after=20).forge(tmp_path / "nan")
    for seed in seeds("nan", 20):
        v = verify(job, run, seed)
        assert not v.accept
        assert any(NON_FINITE.match(r) for r in v.reasons), v.reasons
        assert any(FROZEN.match(r) for r in v.reasons), v.reasons


@pytest.mark.slow
def test_nan_region_with_plausible_losses_caught_by_frozen_weights(
    tmp_path: Path, job: Job
) -> None:
    """The smarter NaN cheat commits finite, plausible losses and jumps back out of the NaN
    region (to its last real state) before the end, so the always-replayed last segment is
    honest. Challenges that miss the region replay only honest segments: the frozen weights in
    the trace are then the only thing that rejects the run."""
    j, k = 200, 210  # NaN checkpoints 201-210; segments 200-210 fail any replay
    cheat = Cheat.after(job, j)
    real = cheat.states[-1]
    cheat.fake(nan_state(real), cheat.losses[j] or "1.0", upto=k)
    cheat.jump_back(j)  # back out: checkpoint k + 1 is state j again
    cheat.train(N)
    run = cheat.forge(tmp_path / "nan-mid")
    region = set(range(j, k + 1))
    (frozen,) = trace_reasons(job, run)  # the NaN copies are the trace's only flaw
    assert FROZEN.match(frozen), frozen
    for seed in seeds("nan-mid", 5, lambda c: c.isdisjoint(region)):
        v = verify(job, run, seed)
        assert v.reasons == [frozen], v.reasons


# ---- 2. a zero-gradient fixed point, weight decay 0 ----------------------------------------
@pytest.mark.slow
def test_zero_gradient_fixed_point_rejected_for_every_seed(
    tmp_path: Path, job: Job, fitted: int
) -> None:
    """Honest until the model fits the training set, one jump to its saturated copy (a
    zero-gradient fixed point: with weight decay 0 and no momentum a real step leaves it
    unchanged), then copies to the end. Each copy replays bit for bit; the trace's frozen weights
    reject the run for every challenge."""
    j = fitted
    cheat = saturated_copies(job, after=j)
    sat = cheat.states[j + 1]
    assert_zero_gradient(job, cheat.states[j + 1])
    # a copy is exactly what training from the previous copy gives (state, RNG and loss)
    mid, stats = (j + N) // 2, SegmentStats()
    replayed = replay_segment(job.spec, job.data, cheat.states[mid], mid + 1, stats=stats)
    assert hash_checkpoint(replayed) == hash_checkpoint(cheat.states[mid + 1])
    assert format_loss(stats.mean_loss()) == cheat.losses[mid + 1]
    acc = heldout_accuracy(job, sat)
    assert acc == heldout_accuracy(job, cheat.states[j])  # saturating changes no prediction
    print(
        f"\nsaturated model from checkpoint {j}: held-out accuracy {acc:.1%}, "
        f"{(N - j) / N:.0%} of the compute skipped"
    )
    run = cheat.forge(tmp_path / "sat")
    for seed in seeds("sat", 20):
        v = verify(job, run, seed)
        assert not v.accept
        assert any(FROZEN.match(r) for r in v.reasons), v.reasons
        # nothing accidental: only the absorbing checks (and the jump's replay) object
        assert {r.split(":", 1)[0] for r in v.reasons} <= {"absorbing", "replay"}, v.reasons


@pytest.mark.slow
def test_zero_gradient_copies_caught_by_the_trace_alone(
    tmp_path: Path, job: Job, fitted: int
) -> None:
    """The same fixed point for a stretch of the run, then a jump back out to the last real state
    and honest training to the end: challenges that miss the stretch replay only honest
    segments, and the frozen weights in the trace are the only reason to reject."""
    j, k = fitted + 100, fitted + 110
    assert k < N - 1
    cheat = Cheat.after(job, j)
    real = cheat.states[-1]
    cheat.fake(saturate(job, real), "0.0", upto=k)
    cheat.jump_back(j)
    cheat.train(N)
    run = cheat.forge(tmp_path / "sat-mid")
    region = set(range(j, k + 1))
    (frozen,) = trace_reasons(job, run)
    assert FROZEN.match(frozen), frozen
    for seed in seeds("sat-mid", 5, lambda c: c.isdisjoint(region)):
        assert verify(job, run, seed).reasons == [frozen]


# ---- 3. a zero-gradient fixed point, weight decay > 0 --------------------------------------
@pytest.mark.slow
def test_weight_decay_only_region_caught_by_replay(
    tmp_path: Path, wd_job: Job, draws: list[set[int]]
) -> None:
    """With weight decay the saturated model keeps moving, and computing only the decay (no
    forward, no backward) reproduces exactly what training does while every gradient is zero:
    the trace looks alive (weights change every segment, losses are finite and are what a replay
    measures). The cheat jumps in at j, decays until k, jumps back out to its last real state
    and trains honestly to the end: segments j..k, 5 % of the run, were never trained.

    Only a challenged segment of that region catches it: the replay sees all-zero gradients
    ("absorbing: ... every gradient is zero"), or for the jumps a state training does not reach.
    So the detection is the hypergeometric compute_detection(N, Q, m) with m = k - j + 1."""
    job = wd_job
    cheat, never = decay_only(job, 25, before=N - 50)  # honest until the model fits, at j
    j, k = never[0], never[-1]
    assert k == j + 24 and j % 10 == 0 and training_fit(job, cheat.states[j])[0] == 1.0
    run = cheat.forge(tmp_path / "decay")
    assert trace_reasons(job, run) == []  # every committed leaf looks like training
    # a replay of the region reproduces it bit for bit, loss included: only the gradients tell
    stats = SegmentStats(track_grads=True)
    replayed = replay_segment(job.spec, job.data, cheat.states[j + 5], j + 6, stats=stats)
    assert hash_checkpoint(replayed) == hash_checkpoint(cheat.states[j + 6])
    assert format_loss(stats.mean_loss()) == cheat.losses[j + 6]
    assert not stats.any_gradient()

    table, v = measure_table(job, run)
    assert table.failing == set(range(j, k + 1)) and not table.always
    for r in v.reasons:
        m = SEGMENT_REASON.match(r)
        assert m is not None, r
        if j < (seg := int(m.group(1))) <= k:
            assert r.startswith(f"absorbing: segment {seg} ") and "every gradient is zero" in r
    measured, exact, se = monte_carlo(table, draws)
    print(
        f"\nweight-decay-only region: m = {len(table.failing)} of {N} segments, Q = {Q}: "
        f"detection {measured:.4f} measured, {exact:.4f} exact (SE {se:.4f})"
    )
    assert_matches(measured, exact, se)
    region = set(table.failing)
    picked = seeds("decay-miss", 3, lambda c: c.isdisjoint(region))
    picked += seeds("decay-hit", 3, lambda c: not c.isdisjoint(region))
    for seed in picked:
        check_verdict_against_table(verify(job, run, seed), table, seed)


# ---- 4. detection against skipped compute --------------------------------------------------
FRACTIONS = (0.01, 0.05, 0.10, 0.20)


def skip_fraction(
    job: Job, fraction: float, rng: random.Random, dest: Path
) -> tuple[RunDir, set[int]]:
    """A cheat that skips `fraction` of the compute, the segments picked at random (never the last,
    which every challenge replays): proof/forgery's skip_segments extrapolates each from the
    previous update and trains the next one honestly from it, so every other segment replays
    exactly and each skipped segment is one faked segment."""
    skipped = set(rng.sample(range(1, N - 1), round(fraction * N)))
    return skip_segments(job, skipped).forge(dest), skipped


@pytest.mark.slow
def test_detection_bounds_skipped_compute(tmp_path: Path, job: Job, draws: list[set[int]]) -> None:
    rng = random.Random(7)
    rows = []
    for f in FRACTIONS:
        run, skipped = skip_fraction(job, f, rng, tmp_path / f"skip-{f}")
        assert trace_reasons(job, run) == []  # only replay can tell
        table, _ = measure_table(job, run)
        assert table.failing == skipped and not table.always
        measured, exact, se = monte_carlo(table, draws)
        rows.append((f, len(table.failing), measured, exact, se))
        assert_matches(measured, exact, se)
        if f == 0.10:
            assert exact >= 0.99 and measured >= 0.99 - 4 * se  # the documented claim
        # the table is honest: the real verifier at the default Q agrees with it
        for seed in (rng.randbytes(32) for _ in range(5)):
            check_verdict_against_table(verify(job, run, seed), table, seed)
    print(f"\nN = {N}, Q = {Q}, {DRAWS} challenges each")
    for f, m, measured, exact, se in rows:
        print(
            f"  skipped {f:4.0%} (m = {m:3d}): detection {measured:.4f} measured, "
            f"{exact:.4f} exact, SE {se:.4f}"
        )


# ---- 5 and 6. the honest run ---------------------------------------------------------------
@pytest.fixture(scope="module")
def honest_verdicts(job: Job) -> list[tuple[bytes, Verdict, float]]:
    """The honest run judged for several challenge seeds: (seed, verdict, seconds)."""
    out = []
    for seed in seeds("honest", 8):
        t0 = time.perf_counter()
        v = verify(job, job.honest, seed)
        out.append((seed, v, time.perf_counter() - t0))
    return out


@pytest.mark.slow  # the honest run's training and verifications
def test_honest_run_accepted_for_every_seed(
    honest_verdicts: list[tuple[bytes, Verdict, float]],
) -> None:
    for seed, v, _ in honest_verdicts:
        assert v.accept, (seed, v.reasons)


@pytest.mark.slow  # the honest run's training and verifications
def test_verification_cost_is_q_segments(
    job: Job, honest_verdicts: list[tuple[bytes, Verdict, float]]
) -> None:
    every = job.spec.every
    for _, v, _ in honest_verdicts:
        assert v.replayed_steps <= (Q + 1) * every
    # the verifier's own default Q (no q given) is the chain's: the same exact rule for this N
    default = verify(job, job.honest, b"default-q", q=None)
    assert default.challenge["q"] == Q
    assert default.accept and default.replayed_steps <= (default.challenge["q"] + 1) * every
    steps = max(v.replayed_steps for _, v, _ in honest_verdicts)
    seconds = statistics.median(s for *_, s in honest_verdicts)
    assert steps / job.spec.steps < 0.1
    print(
        f"\nhonest verification, Q = {Q} (+ the last segment): replayed {steps} of "
        f"{job.spec.steps} steps ({steps / job.spec.steps:.1%}), {seconds:.2f} s (median) vs "
        f"{job.train_s:.2f} s of training; verifier default Q = {default.challenge['q']}: "
        f"{default.replayed_steps} steps"
    )
