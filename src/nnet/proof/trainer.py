"""`nnet train`: deterministic training with proof logging, resumable bit for bit.

Every `checkpoint.every` steps the full state is copied and handed to a worker thread that hashes
it and, when a retention tier keeps it, writes it as safetensors, while training goes on. The
hashes and the segment's mean loss go to RUN/trace.jsonl in order: the leaves of the proof's
Merkle tree (proof/trace.py). The prover regenerates dropped checkpoints by re-execution when
they are challenged. Ctrl-C writes the latest checkpoint, and `resume`
continues from the latest intact one: since every step is a pure function of (checkpoint, seed,
step), the resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
import torch

from nnet.cid import compute_file_cid
from nnet.errors import UsageError, VerificationFailed
from nnet.proof.checkpoint import (
    CheckpointHash,
    CheckpointWriter,
    compute_tensors_hash,
    hash_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from nnet.proof.data import BatchSource, Dataset, compute_data_cids, load_dataset
from nnet.proof.engine import (
    SegmentStats,
    TrainState,
    build_state,
    evaluate,
    get_environment,
    get_state_tensors,
    load_state,
    run_steps,
    set_determinism,
)
from nnet.proof.rundir import RUN_FORMAT, RunDir, is_retained
from nnet.proof.spec import JobSpec
from nnet.proof.trace import TraceEntry, format_loss

__all__ = ["Progress", "TrainOptions", "load_base_weights", "prepare_spec", "train"]


@dataclass(frozen=True)
class Progress:
    step: int
    steps: int
    loss: float
    steps_per_s: float


@dataclass(frozen=True)
class TrainOptions:
    resume: bool = False
    progress: Callable[[Progress], None] | None = None
    progress_every_s: float = 0.5
    stop_at: int | None = None  # behave as if interrupted once this step is reached (tests)


def prepare_spec(spec: JobSpec) -> JobSpec:
    """Fill in dataset CIDs from the files when the spec leaves them out, and check given ones."""
    cid, labels_cid = compute_data_cids(spec)
    for key, found in (("cid", cid), ("labels_cid", labels_cid)):
        want = spec.data.get(key)
        if want is not None and want != found:
            raise VerificationFailed(
                f"dataset: data.{key} is {want} but {spec.data['path']} has CID {found}"
            )
    return spec.with_data_cids(cid, labels_cid)


def load_base_weights(spec: JobSpec) -> dict[str, torch.Tensor] | None:
    """The base model's weights for fine-tuning, after checking its CID."""
    if spec.base_model is None:
        return None
    path = spec.resolve(spec.base_model["path"])
    found = compute_file_cid(path)
    if found != spec.base_model["cid"]:
        raise VerificationFailed(
            f"base model: base_model.cid is {spec.base_model['cid']} but {path} has CID {found}"
        )
    return read_checkpoint(path)


def _absolute(spec: JobSpec) -> dict[str, Any]:
    doc = spec.to_toml()
    for table, key in (("data", "path"), ("data", "labels"), ("base_model", "path")):
        if table in doc and doc[table].get(key):
            doc[table][key] = str(spec.resolve(doc[table][key]).resolve())
    return doc


def _start_fresh(spec: JobSpec, run: RunDir, env: dict[str, Any]) -> None:
    if run.root.exists() and not run.root.is_dir():
        raise UsageError(f"{run.root} is a file", hint="give a folder for the run")
    if run.root.exists() and any(run.root.iterdir()):
        raise UsageError(
            f"{run.root} already exists and is not empty",
            hint="resume that run, or choose another folder",
            code="run_exists",
        )
    (run.root / "ckpt").mkdir(parents=True, exist_ok=True)
    run.spec_path.write_text(tomli_w.dumps(_absolute(spec)), encoding="utf-8")
    run.write_trace([])
    run.write_manifest(
        {
            "format": RUN_FORMAT,
            "spec": spec.spec_hash(),
            "binding": spec.binding,
            "dataset": spec.data["cid"],
            "labels": spec.data.get("labels_cid"),
            "env": env,
            "mode": spec.verify["mode"],
            "checkpoints": spec.n_checkpoints,
            "steps": spec.steps,
            "steps_done": 0,
            "complete": False,
            "final": None,
            "metrics": {},
        }
    )


def _resume_point(spec: JobSpec, run: RunDir) -> int:
    """Index of the latest checkpoint on disk that matches its recorded hash; -1 if none."""
    m = run.read_manifest()
    if m["spec"] != spec.spec_hash():
        raise UsageError(
            f"{run.root} was trained from another job spec ({m['spec']})",
            hint="resume with the same spec file, or train into a new directory",
        )
    if m["complete"]:
        raise UsageError(f"the run in {run.root} is already complete")
    if m.get("binding") != spec.binding:
        raise UsageError(
            f"{run.root} was trained for {m.get('binding') or 'no job'}, not {spec.binding}",
            hint="resume with the same job spec (and [binding]) it was started with",
        )
    entries = run.read_trace()
    for index in range(len(entries) - 1, -1, -1):
        path = run.checkpoint_path(index)
        entry = entries[index]
        if path.exists() and hash_checkpoint(read_checkpoint(path)) == CheckpointHash(
            entry.weights, entry.state
        ):
            run.write_trace(entries[: index + 1])
            for later in range(index + 1, spec.n_checkpoints):
                run.checkpoint_path(later).unlink(missing_ok=True)
            return index
    return -1  # stopped before the first checkpoint: nothing to keep, start from step 0


def train(spec: JobSpec, out: Path, options: TrainOptions = TrainOptions()) -> dict[str, Any]:
    """Train `spec` into run directory `out`; returns the run manifest."""
    if spec.job["device"] == "cuda" and not torch.cuda.is_available():
        raise UsageError("job.device is cuda but no CUDA device is available here")
    set_determinism(spec)
    spec = prepare_spec(spec)
    run = RunDir(out)
    env = get_environment(spec)
    data = load_dataset(spec, check_cids=False)  # prepare_spec just checked them
    if options.resume:
        if not run.exists():
            raise UsageError(f"nothing to resume in {out}")
        start = _resume_point(spec, run)
        if start < 0:
            run.write_trace([])
            start, state = 0, build_state(spec, data, load_base_weights(spec))
        else:
            state = load_state(spec, data, read_checkpoint(run.checkpoint_path(start)))
    else:
        _start_fresh(spec, run, env)
        start, state = 0, build_state(spec, data, load_base_weights(spec))
    return _loop(spec, data, run, state, start, options)


def _loop(
    spec: JobSpec, data: Dataset, run: RunDir, state: TrainState, start: int, opts: TrainOptions
) -> dict[str, Any]:
    last, keep = spec.n_checkpoints - 1, int(spec.checkpoint["keep_every"])
    segments: dict[int, SegmentStats | None] = {}

    def record(index: int, h: CheckpointHash) -> None:  # on the writer thread, in order
        step = spec.checkpoint_step(index)
        stats = segments.pop(index)
        # the mean loss is read here, off the training thread (on a GPU, reading it syncs)
        loss = None if stats is None else format_loss(stats.mean_loss())
        run.append_entry(TraceEntry(index, step, h.weights, h.state, loss))

    writer = CheckpointWriter(record, {"spec": spec.spec_hash()})
    latest: dict[int, dict[str, torch.Tensor]] = {}

    def submit(index: int, stats: SegmentStats | None) -> None:
        # every checkpoint is hashed; only the retained tiers are written while training goes on
        tensors = get_state_tensors(state)
        keep_file = is_retained(index, last, keep)
        segments[index] = stats
        writer.submit(index, tensors, run.checkpoint_path(index) if keep_file else None)
        latest.clear()
        latest[index] = tensors

    meter = _Meter(spec, state.step, opts)
    source = BatchSource(spec, data)  # one for the run: an epoch's permutation is drawn once
    try:
        if start == 0 and state.step == 0:
            submit(0, None)
        for index in range(start + 1, last + 1):
            stats = SegmentStats()
            end = spec.checkpoint_step(index)
            run_steps(spec, data, state, end, on_step=meter.on_step, source=source, stats=stats)
            submit(index, stats)
    except KeyboardInterrupt:
        writer.close()
        for index, tensors in latest.items():  # the latest checkpoint is where --resume starts
            write_checkpoint(run.checkpoint_path(index), tensors, {"spec": spec.spec_hash()})
        manifest = run.read_manifest()
        manifest["steps_done"] = state.step
        run.write_manifest(manifest)
        raise
    writer.close()
    return _finish(spec, data, run, state)


def _finish(spec: JobSpec, data: Dataset, run: RunDir, state: TrainState) -> dict[str, Any]:
    last, keep = spec.n_checkpoints - 1, int(spec.checkpoint["keep_every"])
    for path in (run.root / "ckpt").glob("*.safetensors"):  # a resumed run's old latest
        if not is_retained(int(path.stem), last, keep):
            path.unlink()
    weights = {k: v.detach().cpu().clone() for k, v in state.model.state_dict().items()}
    write_checkpoint(run.model_path, weights, {"spec": spec.spec_hash()})
    metrics = evaluate(spec, data, state.model)
    trace = run.read_trace()
    if trace and trace[-1].loss is not None:
        metrics["train_loss"] = trace[-1].loss  # the last segment's mean loss, as committed
    manifest = run.read_manifest()
    manifest |= {
        "steps_done": state.step,
        "complete": True,
        "final": "0x" + compute_tensors_hash(weights).hex(),
        "metrics": metrics,
    }
    run.write_manifest(manifest)
    return manifest


class _Meter:
    """Progress reports at most every `progress_every_s`; reads the loss only then (a GPU sync).
    The clock is read only every `stride` steps, a stride fitted to the step rate (a quarter of
    the report interval), so most steps cost a comparison."""

    def __init__(self, spec: JobSpec, start: int, opts: TrainOptions) -> None:
        self.steps, self.opts = spec.steps, opts
        self.t0 = self.t_last = time.monotonic()
        self.start = start
        self.last_loss: float | None = None
        self._stop = opts.stop_at if opts.stop_at is not None else math.inf
        self._next = start + 1  # the step count at which to read the clock next
        self._stride = 1

    def on_step(self, step: int, loss: torch.Tensor) -> None:
        done = step + 1
        if done >= self._stop:
            raise KeyboardInterrupt
        if done < self._next and done != self.steps:
            return
        now = time.monotonic()
        if now > self.t0:
            quarter = (done - self.start) / (now - self.t0) * self.opts.progress_every_s / 4
            self._stride = max(1, min(int(quarter), 2 * self._stride))
        self._next = done + self._stride
        if done == self.steps or now - self.t_last >= self.opts.progress_every_s:
            self.last_loss = float(loss)
            self.t_last = now
            if self.opts.progress is not None:
                rate = (done - self.start) / max(now - self.t0, 1e-9)
                self.opts.progress(Progress(done, self.steps, self.last_loss, rate))
