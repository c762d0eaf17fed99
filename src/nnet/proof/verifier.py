"""`nnet verify`: check a proof against the job of record, challenge segments, open, replay, judge.

Each failure is a reason "<check>: <what was wrong>", so every rejection names what it caught:
signature, job, spec, dataset, labels, mode, environment, trace (the committed per-checkpoint
records: every one is checked, not only the challenged ones), absorbing (segments that train
nothing), init (checkpoint 0 is the seed's init, bound to this job and prover), opening (a
challenged checkpoint is missing, unreadable, or not the committed one), checkpoint (its tensors
are not the job's: names, shapes, dtypes, finite values, step), replay / tolerance (re-executing
the segment does not reproduce its end), final, metrics (every claimed metric is recomputed).

What the verifier trusts: the job of record (`VerifyOptions.spec`: from the chain, or `--spec`
offline; never the run's own job.toml) and its own environment. What it does not: every file and
field the prover wrote. Any failure to open, load, check or replay a challenged checkpoint is a
reason, so a verifier always reaches a verdict and signs it; it never regenerates a checkpoint
the prover failed to open (that is the prover's work). Comparison mode and bounds come from the
job and the verifier's own calibration, never from the proof; comparisons are NaN-safe.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from nnet.econ.soundness import compute_detection, compute_faked_segments, compute_required_q
from nnet.errors import MalformedInput, NnetError, UsageError, VerificationFailed
from nnet.proof.challenge import DEFAULT_DETECTION, DEFAULT_FAKED_FRACTION, compute_challenge
from nnet.proof.checkpoint import CheckpointHash, hash_checkpoint
from nnet.proof.data import Dataset, load_dataset
from nnet.proof.document import verify_document
from nnet.proof.engine import SegmentStats, build_state, evaluate, get_environment, set_determinism
from nnet.proof.replay import compute_distance, compute_init, replay_segment
from nnet.proof.rundir import RunDir
from nnet.proof.safeload import check_checkpoint, compute_template, read_untrusted_checkpoint
from nnet.proof.shape import PROOF_FIELDS, check_proof_shape
from nnet.proof.spec import JobSpec
from nnet.proof.trace import TraceEntry, check_trace
from nnet.proof.trainer import load_base_weights, prepare_spec

__all__ = ["PROOF_FIELDS", "Verdict", "VerifyOptions", "verify_proof"]

# a replay in fp32 differs from one in fp64 by the rounding noise of this very segment; honest
# cross-class differences are of that order, a planted perturbation is not (see docs/pol.md)
CALIBRATION_FACTOR = 100.0
Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class VerifyOptions:
    spec: JobSpec | None = None  # the job of record (required: from the chain or its file)
    q: int | None = None  # segments to replay; None: from detection and faked_fraction
    detection: float = DEFAULT_DETECTION
    faked_fraction: float = DEFAULT_FAKED_FRACTION
    seed: bytes | None = None  # challenge randomness; None: os.urandom, drawn after reading
    job: str | None = None  # the job id the proof must name
    compare: str = "auto"  # auto (from the job) | exact | tolerance
    progress: Callable[[str], None] | None = None


@dataclass
class Verdict:
    reasons: list[str] = field(default_factory=list)
    challenge: dict[str, Any] = field(default_factory=dict)
    replayed_steps: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    comparison: str = "exact"
    env: str = ""

    @property
    def accept(self) -> bool:
        return not self.reasons


def verify_proof(proof: Any, run: RunDir, opts: VerifyOptions) -> Verdict:
    """Judge a proof; a Verdict with no reasons accepts. Raises only for a malformed proof or
    the verifier's own setup (no job of record, its own data missing): the prover's files and
    fields can only add reasons."""
    check_proof_shape(proof)
    if opts.spec is None:
        raise UsageError(
            "verify needs the job of record, not the prover's own job.toml",
            hint="give it the job as posted: from the chain, or its spec file",
            code="no_job_of_record",
        )
    record = prepare_spec(opts.spec.unbound())
    # the run of a job is bound to (job, prover): its init and data order derive from both
    spec = record.bind(proof["job"], proof["prover"]) if "job" in proof else record
    set_determinism(spec)
    data = load_dataset(spec, check_cids=False)  # prepare_spec checked the verifier's files
    base = load_base_weights(spec)
    v = Verdict()
    env = get_environment(spec)
    v.env = env["class"]
    if not _check_header(proof, spec, env, opts, v):
        return v
    try:
        _Judge(spec, data, base, run, proof, opts, v).judge()
    except Exception as e:  # a verifier that crashes signs nothing: reject instead
        v.reasons.append(f"verifier: the proof could not be checked to the end ({_describe(e)})")
    return v


def _describe(e: BaseException) -> str:
    return e.message if isinstance(e, NnetError) else f"{type(e).__name__}: {e}"[:300]


def _check_header(
    proof: dict[str, Any], spec: JobSpec, env: dict[str, Any], opts: VerifyOptions, v: Verdict
) -> bool:
    """The proof's own fields against the job of record; False when nothing can be replayed."""
    try:
        verify_document(proof, "nnet.proof", "prover")
    except (VerificationFailed, MalformedInput) as e:
        v.reasons.append(f"signature: {e.message}")
    if opts.job is not None and proof.get("job") != opts.job:
        v.reasons.append(f"job: the proof names job {proof.get('job')!r}, not {opts.job!r}")
    if proof["spec"] != spec.spec_hash():
        v.reasons.append(
            f"spec: the proof commits to job spec {proof['spec']} but the job of record hashes "
            f"to {spec.spec_hash()} (a proof for another job, or other hyperparameters)"
        )
    if proof["dataset"] != spec.data["cid"]:
        v.reasons.append(
            f"dataset: the proof commits to dataset {proof['dataset']}, the job's is "
            f"{spec.data['cid']}"
        )
    if proof.get("labels") != spec.data.get("labels_cid"):
        v.reasons.append(
            f"labels: the proof commits to labels {proof.get('labels')}, the job's are "
            f"{spec.data.get('labels_cid')}"
        )
    if proof["mode"] != spec.verify["mode"]:
        v.reasons.append(f"mode: the proof says {proof['mode']}, the job is {spec.verify['mode']}")
    v.comparison = _comparison(spec, opts)
    if v.comparison == "exact" and proof["env"] != env["class"]:
        v.reasons.append(
            f"environment: an exact-mode proof from class {proof['env']} cannot be replayed bit "
            f"for bit in class {env['class']}; verify on a machine of the prover's class"
        )
        return False
    if proof["checkpoints"] != spec.n_checkpoints:
        v.reasons.append(
            f"spec: the proof has {proof['checkpoints']} checkpoints; {spec.steps} steps with "
            f"checkpoint.every = {spec.every} make {spec.n_checkpoints}"
        )
        return False  # segment boundaries are unknowable: nothing further can be replayed
    return True


def _comparison(spec: JobSpec, opts: VerifyOptions) -> str:
    """From the job (and the verifier's own override), never from the proof."""
    if opts.compare != "auto":
        return opts.compare
    return "exact" if spec.verify["mode"] == "exact" else "tolerance"


class _Judge:
    """Read the trace, open and validate the challenged checkpoints, replay, compare."""

    def __init__(
        self,
        spec: JobSpec,
        data: Dataset,
        base: Tensors | None,
        run: RunDir,
        proof: dict[str, Any],
        opts: VerifyOptions,
        v: Verdict,
    ) -> None:
        self.spec, self.data, self.base, self.run = spec, data, base, run
        self.proof, self.opts, self.v = proof, opts, v
        self.say = opts.progress or (lambda _m: None)
        self.n = spec.n_checkpoints - 1  # segments
        self.trace: list[TraceEntry] = []
        self._cache: dict[int, Tensors | None] = {}
        self._templates: tuple[dict[str, Any], dict[str, Any]] | None = None

    def judge(self) -> None:
        segments = self._draw()
        if not self._read_trace():
            return
        init = compute_init(self.spec, self.data, self.base)
        self._cache[0] = self._check_init(init)
        final: Tensors | None = None
        for i, seg in enumerate(segments):
            a, b = self.spec.checkpoint_step(seg), self.spec.checkpoint_step(seg + 1)
            self.say(f"replaying segment {seg} (steps {a}-{b}), {i + 1} of {len(segments)}")
            final = self._check_segment(seg)
        if final is not None:
            self._check_metrics(final)

    def _draw(self) -> list[int]:
        """The segments to replay: Q as the chain sizes it (the least Q detecting `detection` of
        runs faking `faked_fraction` of N, exact hypergeometric), plus the last segment."""
        o = self.opts
        seed = o.seed if o.seed is not None else os.urandom(32)
        detect_ppm = min(999_999, round(o.detection * 1_000_000))
        faked_ppm = max(1, round(o.faked_fraction * 1_000_000))
        q = o.q if o.q is not None else compute_required_q(self.n, detect_ppm, faked_ppm)
        segments = sorted(set(compute_challenge(seed, self.n, q)) | {self.n - 1})
        m = compute_faked_segments(self.n, faked_ppm)
        self.v.challenge = {
            "seed": "0x" + seed.hex(),
            "q": q,
            "segments": segments,
            "of": self.n,
            # exact: P(a challenged segment is one of m faked) for the Q drawn
            "detects": f"{float(compute_detection(self.n, min(q, self.n), m)):.4f}",
            "if_faked": f"{o.faked_fraction:.2f}",
        }
        return segments

    def _read_trace(self) -> bool:
        try:
            self.trace = self.run.read_trace(self.spec.n_checkpoints)
        except NnetError as e:
            self.v.reasons.append(f"trace: the committed trace cannot be read: {e.message}")
            return False
        p = self.proof
        root = bytes.fromhex(p["root"][2:])
        reasons = check_trace(self.trace, self.spec.checkpoint_step, root, p["init"], p["final"])
        self.v.reasons += reasons
        return not any(r.startswith("trace:") for r in reasons)

    def _check_init(self, init: Tensors) -> Tensors | None:
        want = hash_checkpoint(init)
        first = self.trace[0]
        if CheckpointHash(first.weights, first.state) != want:
            source = "the base model" if self.spec.base_model else "the job's seed"
            self.v.reasons.append(
                f"init: the committed initial state 0x{first.weights.hex()[:16]}… is not the one "
                f"derived from {source} for this job and prover (0x{want.weights.hex()[:16]}…)"
            )
            return None
        return init

    def _template(self, index: int) -> dict[str, Any]:
        """Names, dtypes and shapes a checkpoint of this job has (at the init, and after)."""
        if self._templates is None:
            init = compute_init(self.spec, self.data, self.base)
            later = replay_segment(self.spec, self.data, init, 1)
            self._templates = (compute_template(init), compute_template(later))
        return self._templates[0 if index == 0 else 1]

    def _open(self, index: int) -> Tensors | None:
        """Checkpoint `index` as the prover opened it, validated and matched to its trace entry;
        None (with a reason) otherwise. Never regenerated here: opening is the prover's work."""
        if index in self._cache:
            return self._cache[index]
        self._cache[index] = tensors = self._open_uncached(index)
        return tensors

    def _open_uncached(self, index: int) -> Tensors | None:
        path = self.run.checkpoint_path(index)
        if not os.path.lexists(path):
            self.v.reasons.append(
                f"opening: checkpoint {index} was challenged but not opened (not in the run)"
            )
            return None
        try:
            tensors = read_untrusted_checkpoint(path, root=self.run.root)
            check_checkpoint(
                tensors,
                self._template(index),
                step=self.spec.checkpoint_step(index),
                label=f"checkpoint {index}",
            )
        except NnetError as e:
            self.v.reasons.append(f"checkpoint: {e.message}")
            return None
        entry = self.trace[index]
        if hash_checkpoint(tensors) != CheckpointHash(entry.weights, entry.state):
            self.v.reasons.append(
                f"opening: checkpoint {index} is not the committed one (its hashes differ from "
                "trace entry {index}): altered after commitment, or a mismatched opening"
            )
            return None
        return tensors

    def _check_segment(self, seg: int) -> Tensors | None:
        """Replay one segment; returns the state at its end as accepted (for the metrics)."""
        start, end = self._open(seg), self._open(seg + 1)
        if start is None or end is None:
            return None
        a, b = self.spec.checkpoint_step(seg), self.spec.checkpoint_step(seg + 1)
        stats = SegmentStats(track_grads=True)
        replayed = replay_segment(self.spec, self.data, start, b, stats=stats)
        self.v.replayed_steps += b - a
        where = f"segment {seg} (steps {a}-{b})"
        if not stats.any_gradient():
            self.v.reasons.append(f"absorbing: {where} trains nothing: every gradient is zero")
            return None
        committed = self.trace[seg + 1].loss
        if self.v.comparison == "exact":
            got, want = hash_checkpoint(replayed), hash_checkpoint(end)
            if got != want:
                dist, _ = compute_distance(end, replayed, start)
                self.v.reasons.append(
                    f"replay: {where} does not reproduce checkpoint {seg + 1}: replay hash "
                    f"0x{got.weights.hex()[:16]}… != committed 0x{want.weights.hex()[:16]}… "
                    f"(relative distance {dist:.3g})"
                )
                return None
            loss = repr(stats.mean_loss())
            if loss != committed:
                self.v.reasons.append(
                    f"replay: {where} has mean loss {loss}, the trace commits {committed}"
                )
                return None
            return replayed
        return end if self._check_tolerance(seg, start, end, replayed, stats) else None

    def _check_tolerance(
        self, seg: int, start: Tensors, end: Tensors, replayed: Tensors, stats: SegmentStats
    ) -> bool:
        a, b = self.spec.checkpoint_step(seg), self.spec.checkpoint_step(seg + 1)
        dist, exact_diff = compute_distance(end, replayed, start)
        tol = float(self.spec.verify["tolerance"] or 0.0)
        bound = tol
        if self.spec.job["precision"] == "fp32":
            # per-segment calibration: the rounding noise of this segment, measured against fp64
            ref = replay_segment(self.spec, self.data, start, b, dtype=torch.float64)
            self.v.replayed_steps += b - a
            noise, _ = compute_distance(replayed, ref, start)
            bound = min(tol, max(CALIBRATION_FACTOR * noise, 1e-7))
        where = f"segment {seg} (steps {a}-{b})"
        if exact_diff:
            self.v.reasons.append(f"tolerance: {where} differs in exact fields {exact_diff[:3]}")
            return False
        if not dist <= bound:  # NaN-safe: a NaN distance is over every bound
            self.v.reasons.append(
                f"tolerance: {where} ends {dist:.3g} (relative) from the replay, over the "
                f"calibrated bound {bound:.3g} (job tolerance {tol:g})"
            )
            return False
        committed, loss = float(self.trace[seg + 1].loss or "nan"), stats.mean_loss()
        if not abs(committed - loss) <= max(tol, 1e-6) * max(abs(loss), 1.0):
            self.v.reasons.append(
                f"tolerance: {where} has mean loss {loss!r}, the trace commits {committed!r}"
            )
            return False
        return True

    def _check_metrics(self, final: Tensors) -> None:
        """Every metric the proof claims, recomputed from the final state (and the trace)."""
        weights = {k[6:]: t.clone() for k, t in final.items() if k.startswith("model.")}
        state = build_state(self.spec, self.data)
        state.model.load_state_dict(weights)
        got = evaluate(self.spec, self.data, state.model)
        if self.trace[-1].loss is not None:
            got["train_loss"] = self.trace[-1].loss
        self.v.metrics = got
        claimed = self.proof.get("metrics") or {}
        if set(claimed) != set(got):
            self.v.reasons.append(
                f"metrics: the proof claims {sorted(claimed)}, the job yields {sorted(got)}"
            )
            return
        exact = self.v.comparison == "exact"
        slack = 0 if exact else max(1, int(got.get("heldout_n", 0)) // 100)
        for key, value in got.items():
            if exact or key in ("heldout_n", "train_loss"):
                ok = claimed[key] == value
            elif key == "heldout_correct":
                ok = abs(int(claimed[key]) - int(value)) <= slack
            else:
                ok = _close(claimed[key], value, 0.01)
            if not ok:
                self.v.reasons.append(
                    f"metrics: the proof claims {key} = {claimed[key]!r}; the final model "
                    f"gives {value!r}"
                )


def _close(claimed: Any, value: Any, slack: float) -> bool:
    try:
        return abs(float(claimed) - float(value)) <= slack
    except (TypeError, ValueError):
        return False
