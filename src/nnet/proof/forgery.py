"""Forged runs: the cheats a verifier must reject, built the way a cheating prover would build them.

Used by the attack test suite and by `nnet quickstart`'s cheating node. Each forgery rewrites a
run directory so that its files, leaves, final model and manifest are consistent with each other
(a proof over it is well formed and correctly signed); only replay can tell it was never trained.
"""

from __future__ import annotations

import torch

from nnet.proof.checkpoint import compute_tensors_hash, hash_checkpoint, write_checkpoint
from nnet.proof.replay import load_run_checkpoints
from nnet.proof.rundir import RunDir
from nnet.proof.spec import JobSpec
from nnet.proof.trace import TraceEntry

__all__ = ["forge_run", "interpolate_states", "read_states"]


def read_states(run: RunDir) -> list[dict[str, torch.Tensor]]:
    """Every checkpoint of a run, regenerating the ones its retention tiers dropped."""
    return load_run_checkpoints(run, list(range(len(run.read_trace()))))


def interpolate_states(states: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
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


def forge_run(
    run: RunDir,
    states: list[dict[str, torch.Tensor]],
    record: JobSpec,
    losses: list[str | None] | None = None,
) -> None:
    """Rewrite a run so it claims the job of record with these checkpoints, as a cheat would:
    files, trace (with the given segment losses, else the run's own where it has as many),
    final model and manifest all consistent with each other."""
    import tomli_w

    from nnet.proof.trainer import _absolute, prepare_spec

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
    weights = {k[6:]: t for k, t in states[-1].items() if k.startswith("model.")}
    write_checkpoint(run.model_path, weights, {})
    run.spec_path.write_text(tomli_w.dumps(_absolute(record)), encoding="utf-8")
    m = run.read_manifest()
    m |= {
        "spec": record.spec_hash(),
        "dataset": record.data["cid"],
        "labels": record.data.get("labels_cid"),
        "checkpoints": len(states),
        "final": "0x" + compute_tensors_hash(weights).hex(),
    }
    run.write_manifest(m)
