"""Forged runs: the cheats a verifier must reject, built the way a cheating prover would build them.

Used by the attack test suite and by `nnet quickstart`'s cheating node. Each forgery rewrites a
run directory so that its files, leaves, final model and manifest are consistent with each other
(a proof over it is well formed and correctly signed); only replay can tell it was never trained.
"""

from __future__ import annotations

import torch

from nnet.proof.checkpoint import compute_tensors_hash, write_checkpoint
from nnet.proof.replay import load_run_checkpoints
from nnet.proof.rundir import RunDir
from nnet.proof.spec import JobSpec

__all__ = ["forge_run", "interpolate_states", "read_states"]


def read_states(run: RunDir) -> list[dict[str, torch.Tensor]]:
    """Every checkpoint of a run, regenerating the ones its retention tiers dropped."""
    return load_run_checkpoints(run, list(range(len(run.read_leaves()))))


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


def forge_run(run: RunDir, states: list[dict[str, torch.Tensor]], record: JobSpec) -> None:
    """Rewrite a run so it claims the job of record with these checkpoints, as a cheat would:
    files, leaves, final model and manifest all consistent with each other."""
    import tomli_w

    from nnet.proof.trainer import _absolute, prepare_spec

    record = prepare_spec(record)
    for f in (run.root / "ckpt").glob("*.safetensors"):
        f.unlink()
    leaves = []
    for i, st in enumerate(states):
        write_checkpoint(run.checkpoint_path(i), st, {})
        leaves.append(compute_tensors_hash(st))
    run.write_leaves(leaves)
    weights = {k[6:]: t for k, t in states[-1].items() if k.startswith("model.")}
    write_checkpoint(run.model_path, weights, {})
    run.spec_path.write_text(tomli_w.dumps(_absolute(record)), encoding="utf-8")
    m = run.read_manifest()
    m |= {
        "spec": record.spec_hash(),
        "dataset": record.data["cid"],
        "checkpoints": len(states),
        "final": "0x" + compute_tensors_hash(weights).hex(),
    }
    run.write_manifest(m)
