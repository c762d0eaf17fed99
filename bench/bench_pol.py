"""Proof-of-learning benchmarks (BENCHMARKS.md, "Proof-of-learning").

1. prover overhead: `nnet train` (proof logging) vs a plain PyTorch loop, same model/data/steps
2. verification cost: replayed steps / training steps and the detection probability it buys
3. proof size and prover disk use, incl. ResNet-20 / CIFAR-10 / 200 epochs / k = 100
4. replay speed vs training speed
5. drift between replays of one segment in other environments (CUDA vs CPU when a GPU exists;
   otherwise CPU with other thread counts, and fp32 vs fp64 as the rounding-noise reference)

Uses the MNIST test set from ../shared/data/mnist-t10k when present (synthetic data otherwise).
Usage: python bench/bench_pol.py [--quick]   (results also go to bench/results/pol.json)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import tomli_w
import torch

from nnet.econ.soundness import compute_detection, compute_faked_segments, compute_required_q
from nnet.proof.commitment import make_proof
from nnet.proof.data import load_dataset
from nnet.proof.engine import build_state, get_state_tensors, run_steps, set_determinism
from nnet.proof.replay import compute_distance, replay_segment
from nnet.proof.rundir import RunDir
from nnet.proof.spec import load_spec, parse_spec
from nnet.proof.trainer import prepare_spec, train
from nnet.proof.verifier import VerifyOptions, verify_proof

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO.parent / "shared" / "data" / "mnist-t10k"
SECRET = bytes(range(1, 33))


def mnist_doc(steps: int, every: int, keep: int, hidden: int = 128) -> dict[str, Any]:
    doc = {
        "job": {"seed": 1, "steps": steps, "batch_size": 64, "threads": 1},
        "model": {"name": "mlp", "hidden": [hidden]},
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "checkpoint": {"every": every, "keep_every": keep},
    }
    if MNIST.is_dir():
        doc["data"] = {
            "format": "idx",
            "path": str(MNIST / "t10k-images-idx3-ubyte.gz"),
            "labels": str(MNIST / "t10k-labels-idx1-ubyte.gz"),
            "holdout": 2000,
            "scale": 255.0,
        }
    else:
        doc["data"] = {"path": str(_synthetic()), "holdout": 2000}
    return doc


def _synthetic() -> Path:
    from safetensors.torch import save_file

    p = Path(tempfile.mkdtemp()) / "synthetic.safetensors"
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10000, 1, 28, 28, generator=g)
    y = (x.reshape(10000, -1) @ torch.randn(784, 10, generator=g)).argmax(1)
    save_file({"x": x, "y": y}, str(p))
    return p


def write(doc: dict[str, Any], where: Path) -> Path:
    where.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return where


class Clock:
    """Wall-clock and CPU time (this process, every thread: the checkpoint writer's hashing
    counts) since it was made."""

    def __init__(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall0, time.process_time() - self.cpu0


def plain_loop(doc: dict[str, Any], tmp: Path) -> tuple[float, float]:
    """The baseline: a textbook PyTorch script with the same model, data, optimizer, batch and
    steps: load the data, loop, evaluate on the held-out part, save the weights. It runs under
    the same determinism settings and thread count as `nnet train`, and is no slower than the
    textbook version: a flat nn.Sequential, and index_select for the batch (not x[idx])."""
    from safetensors.torch import save_file

    from nnet.proof.engine import evaluate

    spec = prepare_spec(parse_spec(doc))
    set_determinism(spec)
    clock = Clock()
    data = load_dataset(spec, check_cids=False)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(784, doc["model"]["hidden"][0]),
        torch.nn.ReLU(),
        torch.nn.Linear(doc["model"]["hidden"][0], 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    b, n = 64, data.n_train
    perm = torch.randperm(n)
    for step in range(spec.steps):
        pos = step % (n // b)
        if pos == 0:
            perm = torch.randperm(n)
        idx = perm[pos * b : (pos + 1) * b]
        # index_select gathers the rows x[idx] would, faster (as nnet's BatchSource does)
        xb, yb = data.x.index_select(0, idx), data.y.index_select(0, idx)
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    evaluate(spec, data, model)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "plain.st"))
    return clock.read()


def timed_train(doc: dict[str, Any], tmp: Path, name: str) -> tuple[float, RunDir, float]:
    """`nnet train` in-process: wall-clock seconds, the run, CPU seconds."""
    spec = load_spec(write(doc, tmp / f"{name}.toml"))
    clock = Clock()
    train(spec, tmp / name)
    wall, cpu = clock.read()
    return wall, RunDir(tmp / name), cpu


def _pct(new: float, base: float) -> float:
    return round(100 * (new - base) / base, 1)


def bench_overhead(tmp: Path, steps: int, reps: int) -> dict[str, Any]:
    """Medians of `reps` interleaved pairs (plain, nnet train). overhead_pct compares the
    median wall-clock times (the goal); paired_pct is the median of each pair's own ratio (the
    two runs of a pair are seconds apart, so it is steadier when other work loads the machine);
    cpu_pct compares CPU time of every thread, the checkpoint writer's included."""
    out: dict[str, Any] = {"steps": steps, "reps": reps, "load_avg_1min": [os.getloadavg()[0]]}
    for every in (100, 10):
        doc = mnist_doc(steps, every, 10)
        plain, proof = [], []
        for r in range(reps):  # interleaved so drifting machine load hits both alike
            plain.append(plain_loop(doc, tmp))
            wall, _, cpu = timed_train(doc, tmp, f"ovh-{every}-{r}")
            proof.append((wall, cpu))
        p, q = statistics.median(w for w, _ in plain), statistics.median(w for w, _ in proof)
        pc, qc = statistics.median(c for _, c in plain), statistics.median(c for _, c in proof)
        pairs = zip(plain, proof, strict=True)
        paired = statistics.median(100 * (b[0] - a[0]) / a[0] for a, b in pairs)
        out[f"k={every}"] = {
            "plain_s": round(p, 3),
            "nnet_train_s": round(q, 3),
            "overhead_pct": _pct(q, p),
            "paired_pct": round(paired, 1),
            "plain_cpu_s": round(pc, 3),
            "nnet_train_cpu_s": round(qc, 3),
            "cpu_pct": _pct(qc, pc),
        }
    out["load_avg_1min"].append(os.getloadavg()[0])
    return out


def bench_verify(tmp: Path, segments: int) -> dict[str, Any]:
    every = 10
    # keep every checkpoint: an offline verifier replays only what the prover left on disk
    doc = mnist_doc(segments * every, every, 1)
    t_train, run, _ = timed_train(doc, tmp, "verify")
    proof = make_proof(run, SECRET)
    q = compute_required_q(segments)  # as the chain sizes it: 99 % at 10 % faked
    t0 = time.perf_counter()
    v = verify_proof(proof, run, VerifyOptions(spec=run.read_spec().unbound(), q=q))
    t_verify = time.perf_counter() - t0
    assert v.accept, v.reasons
    steps = segments * every
    kept = len(list((run.root / "ckpt").iterdir()))
    files = sum(p.stat().st_size for p in (run.root / "ckpt").iterdir())
    return {
        "segments": segments,
        "k": every,
        "steps": steps,
        "q": q,
        "replayed_steps": v.replayed_steps,
        "replay_fraction_pct": round(100 * v.replayed_steps / steps, 2),
        "detection_if_10pct_faked": round(
            float(compute_detection(segments, q, compute_faked_segments(segments, 100_000))), 4
        ),
        "train_s": round(t_train, 2),
        "verify_s": round(t_verify, 2),
        "verify_over_train_pct": round(100 * t_verify / t_train, 1),
        "segments_needed_for_2pct": {
            "q=44": (44 + 1) * 100 // 2,
        },
        "proof_bytes": len(json.dumps(proof, separators=(",", ":"))),
        "checkpoints_kept": kept,
        "checkpoint_disk_bytes": files,
        "heldout_accuracy": proof["metrics"].get("heldout_accuracy"),
    }


def bench_replay_speed(tmp: Path, steps: int) -> dict[str, Any]:
    spec = prepare_spec(parse_spec(mnist_doc(steps, steps // 10, 1)))
    set_determinism(spec)
    data = load_dataset(spec)
    state = build_state(spec, data)
    t0 = time.perf_counter()
    run_steps(spec, data, state, steps)
    t_train = time.perf_counter() - t0
    start = get_state_tensors(build_state(spec, data))
    t0 = time.perf_counter()
    replay_segment(spec, data, start, steps)
    t_replay = time.perf_counter() - t0
    return {
        "steps": steps,
        "train_steps_per_s": round(steps / t_train),
        "replay_steps_per_s": round(steps / t_replay),
        "replay_over_train_speed_pct": round(100 * t_train / t_replay, 1),
    }


def bench_sizes() -> dict[str, Any]:
    """ResNet-20 / CIFAR-10 checkpoint size from a real state; disk use from the tiers."""
    from nnet.proof.checkpoint import compute_tensors_hash
    from nnet.proof.data import Dataset

    doc = {
        "job": {"seed": 1, "steps": 78200, "batch_size": 128},
        "model": {"name": "resnet20"},
        "data": {"path": "cifar10.safetensors"},
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0005},
        "checkpoint": {"every": 100, "keep_every": 50},
    }
    spec = parse_spec(doc)
    x = torch.randn(128, 3, 32, 32)
    data = Dataset(x, torch.arange(128) % 10, 128, 10)
    state = build_state(spec, data)
    run_steps(spec, data, state, 1)  # momentum buffers exist after one step
    tensors = get_state_tensors(state)
    ckpt = sum(t.numel() * t.element_size() for t in tensors.values())
    params = sum(p.numel() for p in state.model.parameters())
    t0 = time.perf_counter()
    compute_tensors_hash(tensors)
    hash_s = time.perf_counter() - t0
    n = spec.n_checkpoints
    keep = 50
    kept = len([i for i in range(n) if i % keep == 0 or i == n - 1]) + 1  # + the latest
    return {
        "resnet20_params": params,
        "checkpoint_bytes": ckpt,
        "hash_ms": round(1000 * hash_s, 2),
        "steps_200_epochs": 78200,
        "checkpoints_k100": n,
        "all_checkpoints_bytes": n * ckpt,
        "tiered_keep_every": keep,
        "tiered_files": kept,
        "tiered_bytes": kept * ckpt,
        "max_regeneration_steps_per_opening": (keep - 1) * 100,
        "reference_pol_bytes": 1.7e9,
    }


def bench_drift(k_values: tuple[int, ...]) -> dict[str, Any]:
    """One segment replayed elsewhere: CUDA vs CPU if present; else CPU threads 1 vs 2; and
    fp32 vs fp64 on this CPU (the calibration reference the tolerance verifier uses)."""
    out: dict[str, Any] = {"cuda": torch.cuda.is_available()}
    base = mnist_doc(max(k_values), 10, 1)
    for k in k_values:
        spec = prepare_spec(parse_spec({**base, "job": {**base["job"], "steps": 200 + k}}))
        set_determinism(spec)
        data = load_dataset(spec)
        state = build_state(spec, data)
        run_steps(spec, data, state, 200)  # start mid-training, not at the init
        start = get_state_tensors(state)
        ref = replay_segment(spec, data, start, 200 + k)
        row: dict[str, Any] = {}
        torch.set_num_threads(2)
        other = replay_segment(spec, data, start, 200 + k)
        torch.set_num_threads(1)
        row["cpu_t1_vs_t2"] = f"{compute_distance(other, ref, start)[0]:.3g}"
        f64 = replay_segment(spec, data, start, 200 + k, dtype=torch.float64)
        row["fp32_vs_fp64"] = f"{compute_distance(ref, f64, start)[0]:.3g}"
        if torch.cuda.is_available():
            cuda_spec = parse_spec({**base, "job": {**base["job"], "device": "cuda"}})
            cuda_spec = prepare_spec(cuda_spec)
            gpu = replay_segment(cuda_spec, data, start, 200 + k)
            row["cuda_vs_cpu"] = f"{compute_distance(gpu, ref, start)[0]:.3g}"
        out[f"k={k}"] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    ap.add_argument("--segments", type=int, default=2300, help="segments of the verify run")
    ap.add_argument("--only", help="run one part: overhead, verify, replay, sizes, drift")
    args = ap.parse_args()
    quick = args.quick
    torch.set_num_threads(1)
    results: dict[str, Any] = {"data": "mnist-t10k" if MNIST.is_dir() else "synthetic"}
    parts = {
        "overhead": lambda tmp: bench_overhead(tmp, 300 if quick else 3000, 1 if quick else 7),
        "verify": lambda tmp: bench_verify(tmp, 60 if quick else args.segments),
        "replay": lambda tmp: bench_replay_speed(tmp, 300 if quick else 2000),
        "sizes": lambda tmp: bench_sizes(),
        "drift": lambda tmp: bench_drift((1, 10) if quick else (1, 10, 100)),
    }
    for name, part in parts.items():
        if args.only and name != args.only:
            continue
        with tempfile.TemporaryDirectory() as d:
            results[name] = part(Path(d))
        print(json.dumps({name: results[name]}), flush=True)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "pol.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
