"""The deterministic training step, shared by the trainer and the verifier's replay.

Training and replay run the same `run_steps` over a `TrainState`, so a verifier in the prover's
environment class reproduces each checkpoint bit for bit. Everything a step depends on is either
in the checkpoint (weights, buffers, optimizer state) or a pure function of (seed, step): the
batch, its augmentation, the learning rate and the global RNG (reseeded from (seed, step) at every
step of a model with dropout, and at the last step of each `run_steps` call of one without, so a
checkpoint's recorded RNG state is the same either way).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nnet.proof.data import BatchSource, Dataset, derive_seed
from nnet.proof.models import build_model
from nnet.proof.spec import JobSpec

__all__ = [
    "SegmentStats",
    "TrainState",
    "build_state",
    "get_environment",
    "get_lr",
    "load_state",
    "run_steps",
    "set_determinism",
]


def set_determinism(spec: JobSpec) -> None:
    """Deterministic kernels, no TF32, and the spec's CPU thread count (part of the class)."""
    # cuBLAS reads this once, when its first handle is made; set it before any CUDA work
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # what torch.use_deterministic_algorithms(True) does, minus importing torch._inductor to set
    # its config (about 1 s of start-up; nnet never compiles)
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is not None:
        setter(True, warn_only=False)
    else:  # pragma: no cover - a torch without the private setter
        torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(int(spec.job["threads"]))


def get_environment(spec: JobSpec) -> dict[str, Any]:
    """The environment class of this machine for this job: what must match for bitwise-exact
    replay (POL.md), named canonically (proof/envclass.py)."""
    from nnet.proof.envclass import measure_environment

    return measure_environment(spec.job["device"], int(spec.job["threads"]))


@dataclass
class TrainState:
    """The model and optimizer at the start of step `step`."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    step: int
    device: torch.device


def _make_optimizer(spec: JobSpec, model: nn.Module) -> torch.optim.Optimizer:
    o = spec.optimizer
    params = list(model.parameters())
    if o["name"] == "sgd":
        return torch.optim.SGD(
            params,
            lr=o["lr"],
            momentum=o["momentum"],
            nesterov=o["nesterov"],
            weight_decay=o["weight_decay"],
        )
    return torch.optim.AdamW(
        params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weight_decay"]
    )


def get_lr(spec: JobSpec, step: int) -> float:
    """Learning rate of step `step`: linear warm-up, then the named schedule."""
    base, s, n = float(spec.optimizer["lr"]), spec.schedule, spec.steps
    warmup = int(s["warmup"])
    if step < warmup:
        return base * (step + 1) / warmup
    frac = (step - warmup) / max(1, n - warmup)
    floor = base * float(s["final_lr_ratio"])
    if s["name"] == "cosine":
        return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * frac))
    if s["name"] == "linear":
        return floor + (base - floor) * (1 - frac)
    if s["name"] == "step":
        return base * float(s["gamma"]) ** int(sum(step >= m for m in s["milestones"]))
    return base


def build_state(
    spec: JobSpec, data: Dataset, base_weights: dict[str, torch.Tensor] | None = None
) -> TrainState:
    """Step 0: weights from the seed (or the base model), empty optimizer state."""
    device = torch.device(spec.job["device"])
    torch.manual_seed(derive_seed(spec.seed, "init"))
    model = build_model(spec.model, data.sample_shape, data.classes)
    if base_weights is not None:
        model.load_state_dict(base_weights, strict=True)
    model.to(device)
    return TrainState(model, _make_optimizer(spec, model), 0, device)


def get_state_tensors(state: TrainState) -> dict[str, torch.Tensor]:
    """Everything replay needs, as named CPU tensors (copies, so training can go on)."""
    out: dict[str, torch.Tensor] = {
        f"model.{k}": v.detach().to("cpu", copy=True) for k, v in state.model.state_dict().items()
    }
    for i, st in state.optimizer.state_dict()["state"].items():
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                out[f"optim.{i}.{key}"] = value.detach().to("cpu", copy=True)
    out["meta.step"] = torch.tensor([state.step], dtype=torch.int64)
    # the global RNG is reseeded every step; recording its state makes the checkpoint complete
    out["meta.rng"] = torch.get_rng_state().clone()
    return out


def load_state(
    spec: JobSpec, data: Dataset, tensors: dict[str, torch.Tensor], dtype: torch.dtype | None = None
) -> TrainState:
    """A TrainState from checkpoint tensors. Tensors are cloned: `load_state_dict` keeps
    references, and replaying twice from one in-memory state would corrupt the second (POL.md)."""
    state = build_state(spec, data)
    weights = {k[6:]: v.clone() for k, v in tensors.items() if k.startswith("model.")}
    state.model.load_state_dict(weights, strict=True)
    if dtype is not None:
        state.model.to(dtype)
    osd = state.optimizer.state_dict()
    per_param: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, index, key = k.split(".", 2)
            # load_state_dict moves each value to its parameter's device and dtype itself
            per_param.setdefault(int(index), {})[key] = v.clone()
    for st in per_param.values():
        if spec.optimizer["name"] == "sgd":
            st.setdefault("momentum_buffer", None)
    osd["state"] = per_param
    state.optimizer.load_state_dict(osd)
    state.step = int(tensors["meta.step"][0])
    return state


def _seed_global_rng(seed: int, device: torch.device) -> None:
    """Reseed the global generators dropout draws from. Not torch.manual_seed: it also queues
    lazy seeds for every accelerator type, capturing a stack trace each time (~60 us a step)."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)


class _StepSeeds:
    """derive_seed(seed, "step", n) for consecutive n, hashing the common prefix only once
    (the same values, about 10 us a step cheaper: this runs on every training step)."""

    def __init__(self, seed: int) -> None:
        self._prefix = hashlib.sha256(f"nnet:{seed}:step:".encode())

    def __call__(self, step: int) -> int:
        h = self._prefix.copy()
        h.update(str(step).encode())
        return int.from_bytes(h.digest()[:8], "big") >> 1


def _prepare_model(spec: JobSpec, model: nn.Module) -> bool:
    """Put `model` in training mode; return whether a training step of it draws from the global
    RNG. In the registry's models only dropout does, and dropout with p = 0 draws nothing (ATen
    returns its input). One walk over the modules: this runs once a segment."""
    draws, training = float(spec.model.get("dropout", 0.0)) > 0.0, True
    for m in model.modules():
        training = training and m.training
        if (isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0.0) or (
            isinstance(m, nn.MultiheadAttention) and m.dropout > 0.0
        ):
            draws = True
    if not training:
        model.train()
    return draws


@dataclass
class SegmentStats:
    """What one segment's steps leave besides the state: every step's loss (detached, on the
    device, read only at the checkpoint), and for a verifier whether any gradient was non-zero
    (a segment in which no gradient ever is trains nothing: an absorbing state)."""

    track_grads: bool = False
    losses: list[torch.Tensor] = field(default_factory=list)
    grad_active: torch.Tensor | None = None

    def mean_loss(self) -> float:
        """The mean step loss, summed exactly (fsum) so it does not depend on reduction order."""
        if not self.losses:
            return math.nan
        values = torch.stack(self.losses).float().cpu().tolist()
        return math.fsum(values) / len(values)

    def any_gradient(self) -> bool:
        return self.grad_active is not None and bool(self.grad_active)

    def _note_grads(self, params: Sequence[torch.Tensor]) -> None:
        flags = [p.grad.ne(0).any() for p in params if p.grad is not None]
        if flags:
            active = torch.stack(flags).any()
            self.grad_active = active if self.grad_active is None else self.grad_active | active


def run_steps(
    spec: JobSpec,
    data: Dataset,
    state: TrainState,
    end: int,
    *,
    dtype: torch.dtype | None = None,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    source: BatchSource | None = None,
    stats: SegmentStats | None = None,
) -> None:
    """Train from state.step up to (not including) `end`, in place; `stats` collects the
    segment's losses (and gradient activity when asked)."""
    source = source or BatchSource(spec, data)
    model, opt, device = state.model, state.optimizer, state.device
    lm = spec.model["name"] == "transformer"
    autocast = spec.job["precision"] == "bf16" and dtype is None
    # A step that draws nothing (no dropout) needs no seed, so the RNG is reseeded at the last
    # step only: the state a checkpoint records is then the one per-step reseeding leaves
    # (reseeding resets the generator whole), at the cost of one reseed per call, not per step.
    reseed_every_step = _prepare_model(spec, model)
    step_seed = _StepSeeds(spec.seed)
    last = end - 1
    on_cpu = device.type == "cpu"
    tracker = stats if stats is not None and stats.track_grads else None
    params = list(model.parameters()) if tracker is not None else []
    losses = stats.losses if stats is not None else None
    no_autocast = nullcontext()
    group_lr: float | None = None
    while state.step < end:
        step = state.step
        xb, yb = source.get(step)
        if not on_cpu:
            xb, yb = xb.to(device), yb.to(device)
        if dtype is not None and xb.is_floating_point():
            xb = xb.to(dtype)
        if reseed_every_step or step == last:
            _seed_global_rng(step_seed(step), device)
        lr = get_lr(spec, step)
        if lr != group_lr:  # the optimizer reads it from its param groups; write only changes
            for group in opt.param_groups:
                group["lr"] = lr
            group_lr = lr
        with torch.autocast(device.type, dtype=torch.bfloat16) if autocast else no_autocast:
            out = model(xb)
            if lm:
                out, yb = out.reshape(-1, out.shape[-1]), yb.reshape(-1)
            loss = nn.functional.cross_entropy(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if tracker is not None:
            tracker._note_grads(params)
        opt.step()
        state.step = step + 1
        if losses is not None or on_step is not None:
            detached = loss.detach()
            if losses is not None:
                losses.append(detached)
            if on_step is not None:
                on_step(step, detached)


@torch.no_grad()
def evaluate(spec: JobSpec, data: Dataset, model: nn.Module) -> dict[str, Any]:
    """Accuracy (and mean loss) on the held-out examples; exact counts, floats as text."""
    n_hold = len(data.x) - data.n_train
    if n_hold == 0:
        return {}
    model.eval()
    device = next(model.parameters()).device
    correct, total, loss_sum = 0, 0, 0.0
    lm = spec.model["name"] == "transformer"
    for start in range(data.n_train, len(data.x), 512):
        xb = data.x[start : start + 512].to(device)
        yb = data.y[start : start + 512].to(device)
        out = model(xb)
        if lm:
            out, yb = out.reshape(-1, out.shape[-1]), yb.reshape(-1)
        loss_sum += float(nn.functional.cross_entropy(out, yb, reduction="sum"))
        correct += int((out.argmax(-1) == yb).sum())
        total += int(yb.numel())
    model.train()
    return {
        "heldout_accuracy": f"{correct / total:.4f}",
        "heldout_correct": correct,
        "heldout_n": total,
        "heldout_loss": f"{loss_sum / total:.4f}",
    }
