"""Re-execution: replaying a segment (verifier) and regenerating dropped checkpoints (prover).

Both start from checkpoint tensors and run the same steps as training (proof/engine.py). Opening a
checkpoint that the retention tiers did not keep means replaying from the nearest kept one before
it: the prover pays that, and the verifier still checks the result against the Merkle root.
"""

from __future__ import annotations

import torch

from nnet.errors import NotFound
from nnet.proof.checkpoint import read_checkpoint
from nnet.proof.data import Dataset
from nnet.proof.engine import build_state, get_state_tensors, load_state, run_steps
from nnet.proof.rundir import RunDir
from nnet.proof.spec import JobSpec

__all__ = ["compute_distance", "compute_init", "open_checkpoint", "replay_segment"]


def replay_segment(
    spec: JobSpec,
    data: Dataset,
    start: dict[str, torch.Tensor],
    end_step: int,
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """The state after training from checkpoint `start` up to step `end_step`."""
    state = load_state(spec, data, start, dtype=dtype)
    run_steps(spec, data, state, end_step, dtype=dtype)
    return get_state_tensors(state)


def compute_init(
    spec: JobSpec, data: Dataset, base: dict[str, torch.Tensor] | None
) -> dict[str, torch.Tensor]:
    """Checkpoint 0 as the job defines it: weights from the seed (or the base model)."""
    return get_state_tensors(build_state(spec, data, base))


def open_checkpoint(
    run: RunDir,
    spec: JobSpec,
    data: Dataset,
    index: int,
    near: tuple[int, dict[str, torch.Tensor]] | None = None,
) -> tuple[dict[str, torch.Tensor], int]:
    """Checkpoint `index` from disk, or regenerated from the nearest earlier state: a retained
    file, or `near` (an earlier checkpoint already opened and checked), whichever is closer.

    Returns the tensors and how many steps regenerating them took (0 when read from disk).
    """
    path = run.checkpoint_path(index)
    if path.exists():
        return read_checkpoint(path), 0
    steps_at = spec.checkpoint_steps()
    earlier = next((i for i in range(index - 1, -1, -1) if run.checkpoint_path(i).exists()), -1)
    if near is not None and earlier < near[0] < index:
        start = near[1]
    elif earlier >= 0:
        start = read_checkpoint(run.checkpoint_path(earlier))
    else:
        raise NotFound(
            f"checkpoint {index} is not on disk and no earlier one is left to regenerate it"
        )
    regenerated = replay_segment(spec, data, start, steps_at[index])
    return regenerated, steps_at[index] - int(start["meta.step"][0])


def _is_state_float(name: str, t: torch.Tensor) -> bool:
    return t.is_floating_point() and not name.endswith(".step") and name != "meta.rng"


def compute_distance(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], start: dict[str, torch.Tensor]
) -> tuple[float, list[str]]:
    """Relative L2 distance between two states over every float tensor (weights, optimizer
    state, buffers), scaled by how far `b` moved from `start`; plus the non-float tensors (step
    counters, RNG, batch counts) that differ, which must match exactly."""
    exact_diff = sorted(set(a) ^ set(b))
    num = den = 0.0
    for name in sorted(set(a) & set(b)):
        ta, tb = a[name], b[name]
        if ta.shape != tb.shape:
            exact_diff.append(name)
        elif _is_state_float(name, tb):
            tb64 = tb.double()
            num += float((ta.double() - tb64).pow(2).sum())
            s = start.get(name)
            base = s.double() if s is not None and s.shape == tb.shape else torch.zeros_like(tb64)
            den += float((tb64 - base).pow(2).sum())
        elif not torch.equal(ta.to(tb.dtype), tb):
            exact_diff.append(name)
    if num == 0.0:
        return 0.0, exact_diff
    return (num / den) ** 0.5 if den > 0 else float("inf"), exact_diff
