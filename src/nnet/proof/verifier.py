"""`nnet verify`: check a proof against the job, challenge segments, open them, replay, judge.

Checks, each reported as "<check>: <what was wrong>" so every reason names what it caught:
signature (the prover signed this proof), spec / job (the proof is for this job), dataset (the
committed data), environment (the prover's class), init (checkpoint 0 is the seed's init or the
base model), opening (challenged checkpoints are present and match the Merkle root), replay /
tolerance (re-executing each challenged segment reproduces its end checkpoint), final (the final
model is the last checkpoint's weights), metrics (held-out accuracy as claimed).
The challenge is drawn after the proof is read, from randomness the prover could not know.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from nnet.errors import NnetError, VerificationFailed
from nnet.proof.challenge import (
    DEFAULT_DETECTION,
    DEFAULT_FAKED_FRACTION,
    compute_challenge,
    get_detection_probability,
    get_required_q,
)
from nnet.proof.checkpoint import compute_tensors_hash, read_checkpoint
from nnet.proof.data import Dataset, load_dataset
from nnet.proof.document import verify_document
from nnet.proof.engine import build_state, evaluate, get_environment, set_determinism
from nnet.proof.merkle import is_valid_merkle_path
from nnet.proof.replay import compute_distance, compute_init, open_checkpoint, replay_segment
from nnet.proof.rundir import RunDir
from nnet.proof.shape import PROOF_FIELDS, check_proof_shape
from nnet.proof.spec import JobSpec
from nnet.proof.trainer import load_base_weights, prepare_spec

__all__ = ["PROOF_FIELDS", "Verdict", "VerifyOptions", "verify_proof"]

# a replay in fp32 differs from one in fp64 by the rounding noise of this very segment; honest
# cross-class differences are of that order, a planted perturbation is not (see docs/pol.md)
CALIBRATION_FACTOR = 100.0


@dataclass(frozen=True)
class VerifyOptions:
    q: int | None = None  # segments to replay; None: from detection and faked_fraction
    detection: float = DEFAULT_DETECTION
    faked_fraction: float = DEFAULT_FAKED_FRACTION
    seed: bytes | None = None  # challenge randomness; None: os.urandom, drawn after reading
    spec: JobSpec | None = None  # the job of record; None: the run directory's job.toml
    job: str | None = None  # the job id the proof must name
    compare: str = "auto"  # auto | exact | tolerance
    progress: Callable[[str], None] | None = None


@dataclass
class Verdict:
    reasons: list[str] = field(default_factory=list)
    challenge: dict[str, Any] = field(default_factory=dict)
    replayed_steps: int = 0
    regenerated_steps: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    comparison: str = "exact"
    env: str = ""

    @property
    def accept(self) -> bool:
        return not self.reasons


def verify_proof(proof: Any, run: RunDir, opts: VerifyOptions = VerifyOptions()) -> Verdict:
    """Judge a proof; a Verdict with no reasons accepts. Raises only for malformed input."""
    check_proof_shape(proof)
    v = Verdict()
    say = opts.progress or (lambda _m: None)
    try:
        verify_document(proof, "nnet.proof", "prover")
    except VerificationFailed as e:
        v.reasons.append(f"signature: {e.message}")
    if opts.job is not None and proof.get("job") != opts.job:
        v.reasons.append(f"job: the proof names job {proof.get('job')!r}, not {opts.job!r}")
    spec = prepare_spec(opts.spec or run.read_spec())
    set_determinism(spec)
    if proof["spec"] != spec.spec_hash():
        v.reasons.append(
            f"spec: the proof commits to job spec {proof['spec']} but this job hashes to "
            f"{spec.spec_hash()} (a proof for another job, or other hyperparameters)"
        )
    if proof["dataset"] != spec.data["cid"]:
        v.reasons.append(
            f"dataset: the proof commits to dataset {proof['dataset']}, "
            f"the job's is {spec.data['cid']}"
        )
    if proof["checkpoints"] != spec.n_checkpoints:
        v.reasons.append(
            f"spec: the proof has {proof['checkpoints']} checkpoints; {spec.steps} steps with "
            f"checkpoint.every = {spec.every} make {spec.n_checkpoints}"
        )
        return v  # segment boundaries are unknowable: nothing further can be replayed
    env = get_environment(spec)
    v.env = env["class"]
    v.comparison = _comparison(spec, proof, env, opts, v)
    data = load_dataset(spec, check_cids=False)
    _Judge(spec, data, run, proof, opts, v, say).judge()
    return v


def _comparison(
    spec: JobSpec, proof: dict[str, Any], env: dict[str, Any], opts: VerifyOptions, v: Verdict
) -> str:
    same = proof["env"] == env["class"]
    if opts.compare != "auto":
        return opts.compare
    if spec.verify["mode"] == "exact":
        if not same:
            v.reasons.append(
                f"environment: exact-mode proof from class {proof['env']} cannot be replayed "
                f"bit for bit in class {env['class']}; verify on a machine of the prover's class"
            )
        return "exact"
    # within one class replay is bitwise, so any difference at all is not rounding noise
    return "exact" if same else "tolerance"


class _Judge:
    """Open, replay and compare the challenged segments; append a reason for each failure."""

    def __init__(
        self,
        spec: JobSpec,
        data: Dataset,
        run: RunDir,
        proof: dict[str, Any],
        opts: VerifyOptions,
        v: Verdict,
        say: Callable[[str], None],
    ) -> None:
        self.spec, self.data, self.run, self.proof, self.opts, self.v, self.say = (
            spec,
            data,
            run,
            proof,
            opts,
            v,
            say,
        )
        self.count = proof["checkpoints"]
        self.steps_at = spec.checkpoint_steps()
        self.root = _hex32(proof["root"], "proof.root")
        self._last: tuple[int, dict[str, torch.Tensor] | None] | None = None

    def judge(self) -> None:
        n = self.count - 1
        seed = self.opts.seed if self.opts.seed is not None else os.urandom(32)
        q = (
            self.opts.q
            if self.opts.q is not None
            else get_required_q(self.opts.detection, self.opts.faked_fraction)
        )
        segments = sorted(set(compute_challenge(seed, n, q)) | {n - 1})
        self.v.challenge = {
            "seed": "0x" + seed.hex(),
            "q": q,
            "segments": segments,
            "of": n,
            # replaying every segment catches any fake; otherwise 1 - (1 - f)^Q (a lower bound)
            "detects": "1.0000"
            if len(segments) >= n
            else f"{get_detection_probability(q, self.opts.faked_fraction):.4f}",
            "if_faked": f"{self.opts.faked_fraction:.2f}",
        }
        self._check_init()
        for i, seg in enumerate(segments):
            a, b = self.steps_at[seg], self.steps_at[seg + 1]
            self.say(f"replaying segment {seg} (steps {a}-{b}), {i + 1} of {len(segments)}")
            self._check_segment(seg)
        self._check_final()

    def _open(self, index: int) -> dict[str, torch.Tensor] | None:
        """Checkpoint `index`, if the prover can produce it and it matches the commitment."""
        if self._last is not None and self._last[0] == index:
            return self._last[1]  # a segment's end is the next segment's start
        opened = self._open_uncached(index)
        self._last = (index, opened)
        return opened

    def _open_uncached(self, index: int) -> dict[str, torch.Tensor] | None:
        try:
            near = self._last if self._last is not None and self._last[1] is not None else None
            tensors, regen = open_checkpoint(self.run, self.spec, self.data, index, near)  # type: ignore[arg-type]
            path = self.run.get_merkle_path(index)
        except (NnetError, IndexError, OSError, ValueError) as e:
            msg = e.message if isinstance(e, NnetError) else str(e)
            self.v.reasons.append(f"opening: checkpoint {index} could not be opened: {msg}")
            return None
        self.v.regenerated_steps += regen
        digest = compute_tensors_hash(tensors)
        if not is_valid_merkle_path(digest, index, self.count, path, self.root):
            self.v.reasons.append(
                f"opening: checkpoint {index} (hash 0x{digest.hex()[:16]}…) does not match the "
                "committed Merkle root: altered after commitment, or a mismatched opening"
            )
            return None
        step = int(tensors["meta.step"][0]) if "meta.step" in tensors else -1
        if step != self.steps_at[index]:
            self.v.reasons.append(
                f"opening: checkpoint {index} is at step {step}, expected {self.steps_at[index]}"
            )
            return None
        return tensors

    def _check_init(self) -> None:
        opened = self._open(0)
        expected = compute_init(self.spec, self.data, load_base_weights(self.spec))
        want = compute_tensors_hash(expected)
        if "0x" + want.hex() != self.proof["init"]:
            source = "the base model" if self.spec.base_model else f"seed {self.spec.seed}"
            self.v.reasons.append(
                f"init: the committed initial state {self.proof['init'][:18]}… is not the one "
                f"derived from {source} (0x{want.hex()[:16]}…)"
            )
        elif opened is not None and compute_tensors_hash(opened) != want:
            self.v.reasons.append("init: checkpoint 0 differs from the committed init hash")

    def _check_segment(self, seg: int) -> None:
        start, end = self._open(seg), self._open(seg + 1)
        if start is None or end is None:
            return
        a, b = self.steps_at[seg], self.steps_at[seg + 1]
        replayed = replay_segment(self.spec, self.data, start, b)
        self.v.replayed_steps += b - a
        if self.v.comparison == "exact":
            got, want = compute_tensors_hash(replayed), compute_tensors_hash(end)
            if got != want:
                dist, _ = compute_distance(end, replayed, start)
                self.v.reasons.append(
                    f"replay: segment {seg} (steps {a}-{b}) does not reproduce checkpoint "
                    f"{seg + 1}: replay hash 0x{got.hex()[:16]}… != committed 0x{want.hex()[:16]}… "
                    f"(relative distance {dist:.3g})"
                )
            return
        self._check_tolerance(seg, start, end, replayed)

    def _check_tolerance(
        self,
        seg: int,
        start: dict[str, torch.Tensor],
        end: dict[str, torch.Tensor],
        replayed: dict[str, torch.Tensor],
    ) -> None:
        a, b = self.steps_at[seg], self.steps_at[seg + 1]
        dist, exact_diff = compute_distance(end, replayed, start)
        tol = float(self.spec.verify["tolerance"] or 0.0)
        bound = tol
        if self.spec.job["precision"] == "fp32":
            # per-segment calibration: the rounding noise of this segment, measured against fp64
            ref = replay_segment(self.spec, self.data, start, b, dtype=torch.float64)
            self.v.replayed_steps += b - a
            noise, _ = compute_distance(replayed, ref, start)
            bound = min(tol, max(CALIBRATION_FACTOR * noise, 1e-7))
        if exact_diff:
            self.v.reasons.append(
                f"tolerance: segment {seg} (steps {a}-{b}) differs in exact fields {exact_diff[:3]}"
            )
        elif dist > bound:
            self.v.reasons.append(
                f"tolerance: segment {seg} (steps {a}-{b}) ends {dist:.3g} (relative) from the "
                f"replay, over the calibrated bound {bound:.3g} (job tolerance {tol:g})"
            )

    def _check_final(self) -> None:
        last = self._open(self.count - 1)
        if last is None:
            return
        weights = {k[6:]: t for k, t in last.items() if k.startswith("model.")}
        final = "0x" + compute_tensors_hash(weights).hex()
        if final != self.proof["final"]:
            self.v.reasons.append(
                f"final: the committed final model {self.proof['final'][:18]}… is not the last "
                f"checkpoint's weights ({final[:18]}…)"
            )
            return
        if self.run.model_path.exists():
            delivered = compute_tensors_hash(read_checkpoint(self.run.model_path))
            if "0x" + delivered.hex() != final:
                self.v.reasons.append("final: model.safetensors is not the committed final model")
        self._check_metrics(weights)

    def _check_metrics(self, weights: dict[str, torch.Tensor]) -> None:
        claimed = self.proof.get("metrics") or {}
        state = build_state(self.spec, self.data)
        state.model.load_state_dict({k: t.clone() for k, t in weights.items()})
        got = evaluate(self.spec, self.data, state.model)
        self.v.metrics = got
        if "heldout_correct" not in got:
            return
        slack = 0 if self.v.comparison == "exact" else max(1, got["heldout_n"] // 100)
        if abs(int(claimed.get("heldout_correct", -1)) - got["heldout_correct"]) > slack:
            self.v.reasons.append(
                f"metrics: the proof claims {claimed.get('heldout_correct')} of "
                f"{claimed.get('heldout_n')} held-out examples correct; the final model gets "
                f"{got['heldout_correct']} of {got['heldout_n']}"
            )


def _hex32(value: Any, name: str) -> bytes:
    from nnet.encoding import hex_to_bytes

    return hex_to_bytes(value, name, 32)
