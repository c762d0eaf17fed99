"""Engine details that determinism rests on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from nnet.proof.data import derive_seed
from nnet.proof.engine import _StepSeeds


def test_step_seeds_equal_derive_seed() -> None:
    for seed in (0, 7, 2024, 2**40 + 3):
        seeds = _StepSeeds(seed)
        assert [seeds(n) for n in range(0, 5000, 7)] == [
            derive_seed(seed, "step", n) for n in range(0, 5000, 7)
        ]


def test_models_without_dropout_draw_nothing_from_the_global_rng() -> None:
    """The trainer reseeds the global RNG every step only for a model that draws from it (the
    rest get one reseed per run_steps call, leaving the same state): so a training step of every
    model without dropout must leave the global generator exactly where it was, and `_prepare_model`
    must say which models draw."""
    import torch

    from nnet.proof.engine import _prepare_model
    from nnet.proof.models import build_model
    from nnet.proof.spec import MODEL_OPTIONS, JobSpec

    cases = {
        "mlp": ((2, 8, 8), 3, torch.randn(4, 2, 8, 8), torch.tensor([0, 1, 2, 1])),
        "cnn": ((1, 8, 8), 3, torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 1])),
        "resnet20": ((3, 8, 8), 3, torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 1])),
        "transformer": ((6,), 11, torch.randint(0, 11, (4, 6)), torch.randint(0, 11, (4, 6))),
    }
    for name, (shape, classes, x, y) in cases.items():
        options = {
            k: (list(d) if isinstance(d, list) else d)
            for k, (_, _, d) in MODEL_OPTIONS[name].items()
        }
        if name == "transformer":
            options["vocab"] = classes
        for p in (0.0, 0.3) if "dropout" in options else (0.0,):
            if "dropout" in options:
                options["dropout"] = p
            spec_model = {"name": name, **options}
            model = build_model(spec_model, shape, classes)
            spec = cast(JobSpec, SimpleNamespace(model=spec_model))  # it reads only .model
            draws = _prepare_model(spec, model)
            assert draws == (p > 0), (name, p)
            before = torch.get_rng_state()
            out = model(x)
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
            loss.backward()  # type: ignore[no-untyped-call]
            moved = not torch.equal(before, torch.get_rng_state())
            assert moved == (p > 0), (name, p)
