"""Engine details that determinism rests on."""

from __future__ import annotations

from nnet.proof.data import derive_seed
from nnet.proof.engine import _StepSeeds


def test_step_seeds_equal_derive_seed() -> None:
    for seed in (0, 7, 2024, 2**40 + 3):
        seeds = _StepSeeds(seed)
        assert [seeds(n) for n in range(0, 5000, 7)] == [
            derive_seed(seed, "step", n) for n in range(0, 5000, 7)
        ]
