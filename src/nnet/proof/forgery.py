"""Forged runs: the cheats a verifier must reject, built the way a cheating prover would build them.

Used by the attack test suite, the soundness bench and `nnet quickstart`'s cheating node. Each
forgery rewrites a run directory so that its files, leaves, final model, metrics and manifest are
consistent with each other (a proof over it is well formed and correctly signed); only the
verifier's other checks (the trace, replay) can tell it was never trained.

Two kinds of tools:

- whole-run rewrites (`read_states`, `interpolate_states`, `forge_run`): a finished run's
  checkpoints, changed and written back as the history of a job of record;
- a cheat that skips compute (`JobOfRecord`, `Cheat` and the builders after it): the honest
  prefix is really trained (read back from an honest run of the job), the rest is fabricated
  checkpoint by checkpoint, stamped with the step and RNG state each must have, then forged.
  Which defence catches each is said where it is built (POL.md, "Detection").
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w
import torch
from torch import nn

from nnet.proof.checkpoint import (
    compute_tensors_hash,
    hash_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from nnet.proof.data import Dataset, derive_seed, load_dataset
from nnet.proof.engine import (
    SegmentStats,
    TrainState,
    build_state,
    evaluate,
    get_lr,
    get_state_tensors,
    load_state,
    run_steps,
    set_determinism,
)
from nnet.proof.replay import load_run_checkpoints
from nnet.proof.rundir import RunDir
from nnet.proof.spec import JobSpec, load_spec
from nnet.proof.trace import TraceEntry, format_loss
from nnet.proof.trainer import _absolute, prepare_spec

__all__ = [
    "Cheat",
    "JobOfRecord",
    "Tensors",
    "decay_only",
    "extrapolate",
    "first_fit",
    "forge_run",
    "interpolate_states",
    "load_model",
    "nan_copies",
    "nan_state",
    "read_states",
    "rng_state_at",
    "saturate",
    "saturated_copies",
    "skip_segments",
    "training_fit",
    "weights_of",
]

Tensors = dict[str, torch.Tensor]


def read_states(run: RunDir) -> list[Tensors]:
    """Every checkpoint of a run, regenerating the ones its retention tiers dropped."""
    return load_run_checkpoints(run, list(range(len(run.read_trace()))))


def interpolate_states(states: list[Tensors]) -> list[Tensors]:
    """Lazy training: weights on a straight line from the init to the final model."""
    init, final = states[0], states[-1]
    fake = [init]
    for i in range(1, len(states)):
        t = i / (len(states) - 1)
        st = {
            k: (init[k] + t * (final[k] - init[k]) if k.startswith("model.") else v.clone())
            for k, v in final.items()
        }
        st["meta.step"] = states[i]["meta.step"].clone()
        fake.append(st)
    return fake


def weights_of(st: Tensors) -> Tensors:
    """The model's weights in a checkpoint, named as the model's state dict names them."""
    return {k[6:]: v for k, v in st.items() if k.startswith("model.")}


def load_model(spec: JobSpec, data: Dataset, st: Tensors) -> nn.Module:
    """The job's model holding a checkpoint's weights."""
    model = build_state(spec, data).model
    model.load_state_dict(weights_of(st))
    return model


def forge_run(
    run: RunDir,
    states: list[Tensors],
    record: JobSpec,
    losses: list[str | None] | None = None,
) -> None:
    """Rewrite a run so it claims the job of record with these checkpoints, as a cheat would:
    files, trace (with the given segment losses, else the run's own where it has as many),
    job.toml, final model and manifest all consistent with each other. The manifest's metrics
    are recomputed from the forged final model on the job's data, as the trainer computes them
    (held-out metrics, and `train_loss` = the last segment's committed loss), and the run is
    marked complete at the last checkpoint's step."""
    record = prepare_spec(record.with_binding(run.read_spec().binding))
    if losses is None:
        old = run.read_trace()
        losses = [e.loss for e in old] if len(old) == len(states) else ["1.0"] * len(states)
        losses[0] = None
    for f in (run.root / "ckpt").glob("*.safetensors"):
        f.unlink()
    entries = []
    for i, st in enumerate(states):
        write_checkpoint(run.checkpoint_path(i), st, {})
        h = hash_checkpoint(st)
        step = int(st["meta.step"][0]) if st.get("meta.step") is not None else i
        entries.append(TraceEntry(i, step, h.weights, h.state, losses[i]))
    run.write_trace(entries)
    weights = weights_of(states[-1])
    write_checkpoint(run.model_path, weights, {})
    run.spec_path.write_text(tomli_w.dumps(_absolute(record)), encoding="utf-8")
    set_determinism(record)  # evaluated as the trainer and the verifier evaluate
    data = load_dataset(record)
    metrics = evaluate(record, data, load_model(record, data, states[-1]))
    if losses[-1] is not None:
        metrics["train_loss"] = losses[-1]
    m = run.read_manifest()
    m |= {
        "spec": record.spec_hash(),
        "dataset": record.data["cid"],
        "labels": record.data.get("labels_cid"),
        "checkpoints": len(states),
        "steps_done": entries[-1].step,
        "complete": True,
        "final": "0x" + compute_tensors_hash(weights).hex(),
        "metrics": metrics,
    }
    run.write_manifest(m)


# ---- a cheat that skips compute -----------------------------------------------------------------
@dataclass
class JobOfRecord:
    """The job a cheat claims (the spec with its data CIDs filled in, determinism set, and its
    data) and an honest run of it, whose checkpoints stand for the prefix the cheat really
    trains (read back rather than trained again: the same tensors, bit for bit)."""

    path: Path
    honest: RunDir
    spec: JobSpec = field(init=False)
    data: Dataset = field(init=False)
    _states: dict[int, Tensors] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.spec = prepare_spec(load_spec(self.path))
        set_determinism(self.spec)
        self.data = load_dataset(self.spec)

    @property
    def segments(self) -> int:
        """N, the job's segments (checkpoints less the init)."""
        return self.spec.n_checkpoints - 1

    def honest_state(self, index: int) -> Tensors:
        """Checkpoint `index` of the honest run (read once)."""
        if index not in self._states:
            self._states[index] = read_checkpoint(self.honest.checkpoint_path(index))
        return self._states[index]

    def honest_losses(self, upto: int) -> list[str | None]:
        """The honest run's committed losses for checkpoints 0 .. `upto`."""
        return [e.loss for e in self.honest.read_trace()[: upto + 1]]


def rng_state_at(spec: JobSpec, step: int) -> torch.Tensor:
    """The RNG state a checkpoint at `step` records: the global generator is reseeded from
    (seed, step) before every step, so the cheat gets it for free, without training."""
    torch.default_generator.manual_seed(derive_seed(spec.seed, "step", step - 1))
    return torch.get_rng_state().clone()


class Cheat:
    """A run as a cheating prover builds it, checkpoint by checkpoint: real training where it
    trains (`train`), cheap fabricated states where it does not (`fake`, `decay`); `forge`
    writes it out as a run of the job of record."""

    def __init__(self, job: JobOfRecord, states: list[Tensors], losses: list[str | None]) -> None:
        self.job, self.spec = job, job.spec
        self.states, self.losses = states, losses
        self._state: TrainState | None = None

    @classmethod
    def after(cls, job: JobOfRecord, prefix: int) -> Cheat:
        """Start from the first `prefix` + 1 checkpoints of the job's honest run."""
        states = [job.honest_state(i) for i in range(prefix + 1)]
        return cls(job, states, job.honest_losses(prefix))

    @classmethod
    def from_init(cls, job: JobOfRecord) -> Cheat:
        """Start from the job's init, to train the honest prefix here."""
        return cls(job, [get_state_tensors(build_state(job.spec, job.data))], [None])

    @property
    def state(self) -> TrainState:
        """The training state at the last checkpoint so far (loaded when first needed)."""
        if self._state is None:
            self._state = load_state(self.spec, self.job.data, self.states[-1])
        return self._state

    def train(self, upto: int) -> None:
        """Honest training up to checkpoint `upto`, one segment at a time as the trainer does."""
        while len(self.states) <= upto:
            stats = SegmentStats()
            end = self.spec.checkpoint_step(len(self.states))
            run_steps(self.spec, self.job.data, self.state, end, stats=stats)
            self.states.append(get_state_tensors(self.state))
            self.losses.append(format_loss(stats.mean_loss()))

    def fake(self, tensors: Tensors, loss: str, *, upto: int | None = None) -> None:
        """The next checkpoint (or each one up to checkpoint `upto`) is a copy of `tensors`,
        stamped with the step and RNG state it must have, committing `loss`."""
        last = len(self.states) if upto is None else upto
        while len(self.states) <= last:
            step = self.spec.checkpoint_step(len(self.states))
            st = {k: v.clone() for k, v in tensors.items()}
            st["meta.step"] = torch.tensor([step], dtype=torch.int64)
            st["meta.rng"] = rng_state_at(self.spec, step)
            self.states.append(st)
            self.losses.append(loss)
        self._state = None  # any later training goes on from the fabricated state

    def jump_back(self, index: int) -> None:
        """The next checkpoint is the cheat's own checkpoint `index` again, with its loss: the
        way out of a fabricated region to a state training really reached."""
        self.fake(self.states[index], self.losses[index] or "1.0")

    def decay(self, upto: int) -> None:
        """Up to checkpoint `upto`, only the weight decay: zero gradients, no forward or backward
        pass, so the weights keep moving (exactly as training would move them when every
        gradient is zero) at the cost of a few vector operations per step."""
        state, spec = self.state, self.spec
        params = list(state.model.parameters())
        while len(self.states) <= upto:
            end = spec.checkpoint_step(len(self.states))
            while state.step < end:
                torch.default_generator.manual_seed(derive_seed(spec.seed, "step", state.step))
                for group in state.optimizer.param_groups:
                    group["lr"] = get_lr(spec, state.step)
                for p in params:
                    p.grad = torch.zeros_like(p)
                state.optimizer.step()
                state.step += 1
            self.states.append(get_state_tensors(state))
            self.losses.append("0.0")  # what a replay of a saturated model measures

    def forge(self, dest: Path) -> RunDir:
        """A new run directory `dest` claiming the job with these checkpoints (one per segment
        and the init), forged by `forge_run` from a copy of the honest run's manifest."""
        if len(self.states) != self.job.segments + 1:
            raise ValueError(f"{len(self.states)} checkpoints for {self.job.segments} segments")
        dest.mkdir(parents=True)
        (dest / "ckpt").mkdir()
        for path in (self.job.honest.manifest_path, self.job.honest.spec_path):
            shutil.copy(path, dest / path.name)
        run = RunDir(dest)
        forge_run(run, self.states, load_spec(self.job.path), self.losses)
        return run


def training_fit(job: JobOfRecord, st: Tensors) -> tuple[float, float]:
    """(training accuracy, least top-1 margin over the training examples) of a checkpoint."""
    model = load_model(job.spec, job.data, st)
    with torch.no_grad():
        out = model(job.data.x[: job.data.n_train])
    top = out.topk(2, dim=1).values
    acc = float((out.argmax(1) == job.data.y[: job.data.n_train]).double().mean())
    return acc, float((top[:, 0] - top[:, 1]).min())


def first_fit(job: JobOfRecord, cheat: Cheat | None = None, *, before: int | None = None) -> int:
    """The first checkpoint (every N/50-th, before `before`, by default the last N/50) whose
    model classifies every training example right: from there a cheat can jump to a saturated
    model. The honest run's checkpoints, or with `cheat` its own, trained up to each as needed."""
    stride = max(1, job.segments // 50)
    for i in range(stride, job.segments - stride if before is None else before, stride):
        if cheat is not None:
            cheat.train(i)
        if training_fit(job, cheat.states[i] if cheat is not None else job.honest_state(i))[0] == 1:
            return i
    raise RuntimeError("the model never fits its training set")


def saturate(job: JobOfRecord, st: Tensors) -> Tensors:
    """A zero-gradient fixed point made from a model that fits every training example: the output
    layer (the model's last linear layer) scaled by a power of two (exact) until every wrong logit
    trails the right one by more than 200, so softmax is exactly one-hot in float32 and every
    cross-entropy gradient underflows to exactly zero; momentum buffers zeroed. The predictions,
    so the accuracy, do not change."""
    acc, margin = training_fit(job, st)
    if not (acc == 1.0 and margin > 0):
        raise ValueError(f"only a model that fits its training set saturates (accuracy {acc})")
    model = build_state(job.spec, job.data).model
    last = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    scale = 2.0 ** math.ceil(math.log2(400 / margin))
    out = {k: v.clone() for k, v in st.items()}
    for k in (f"model.{last}.weight", f"model.{last}.bias"):
        out[k] = st[k] * scale
    for k in out:
        if k.startswith("optim.") and k.endswith("momentum_buffer"):
            out[k] = torch.zeros_like(out[k])
    return out


def nan_state(st: Tensors) -> Tensors:
    """What training that diverged looks like: NaN weights and NaN optimizer state."""
    return {
        k: torch.full_like(v, math.nan) if k.startswith(("model.", "optim.")) else v.clone()
        for k, v in st.items()
    }


def extrapolate(start: Tensors, before: Tensors) -> Tensors:
    """A segment's end made up without training it: its start moved by the previous segment's
    update again (start + (start - before)), the rest of the state carried over."""
    return {k: 2 * v - before[k] if k.startswith("model.") else v for k, v in start.items()}


def skip_segments(job: JobOfRecord, skipped: set[int]) -> Cheat:
    """A cheat that skips the segments `skipped` (never 0, never the last). Each is extrapolated
    (`extrapolate`, the previous segment's loss committed), and the next segment is trained
    honestly from the fabricated state, so the run stays close to a real one and every other
    segment replays exactly: each skipped segment is one faked segment. The trace shows nothing;
    only replaying one of them catches it, so the detection is the hypergeometric
    compute_detection(N, Q, len(skipped))."""
    cheat = Cheat.after(job, min(skipped))
    for s in range(min(skipped), job.segments):
        if s in skipped:
            start, before = cheat.states[s], cheat.states[s - 1]
            cheat.fake(extrapolate(start, before), cheat.losses[s] or "1.0")
        else:
            cheat.train(s + 1)
    return cheat


def nan_copies(job: JobOfRecord, after: int) -> Cheat:
    """Honest for `after` segments, one jump to all-NaN weights (an absorbing state: training
    from it stays NaN), then copies to the end, NaN losses committed. The trace rejects it for
    every challenge: losses that are not finite, and weights that never change."""
    cheat = Cheat.after(job, after)
    cheat.fake(nan_state(cheat.states[-1]), format_loss(math.nan), upto=job.segments)
    return cheat


def saturated_copies(job: JobOfRecord, after: int) -> Cheat:
    """Honest for `after` segments (a model that fits the training set, see `first_fit`), one
    jump to its saturated copy (`saturate`: with weight decay 0 and no momentum a real step
    leaves it unchanged), then copies to the end. Each copy replays bit for bit; the trace's
    frozen weights reject the run for every challenge."""
    cheat = Cheat.after(job, after)
    cheat.fake(saturate(job, cheat.states[-1]), "0.0", upto=job.segments)
    return cheat


def decay_only(job: JobOfRecord, length: int, *, before: int | None = None) -> tuple[Cheat, range]:
    """For a job with weight decay: honest training (here, from the init) until the model fits
    the training set (`first_fit`, before checkpoint `before`) at checkpoint j, a jump to its
    saturated copy, only the weight decay computed until checkpoint k = j + `length` - 1, a jump
    back out to checkpoint j's state, then honest training to the end. The weights keep moving,
    so the trace looks alive, and a replay of the region reproduces it bit for bit, loss
    included: only a challenged segment of it, whose replay sees every gradient zero (or, for the
    jumps, a state training does not reach), catches it. Returns the cheat and the segments it
    never trained, j .. k."""
    cheat = Cheat.from_init(job)
    j = first_fit(job, cheat, before=before)
    k = j + length - 1
    cheat.fake(saturate(job, cheat.states[j]), cheat.losses[j] or "1.0")  # segment j: jump in
    cheat.decay(k)  # segments j + 1 .. k - 1: weight decay only
    cheat.jump_back(j)  # segment k: the jump out
    cheat.train(job.segments)
    return cheat, range(j, k + 1)
