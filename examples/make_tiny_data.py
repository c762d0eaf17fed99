"""Write examples/tiny.safetensors: 600 random 2x8x8 inputs labelled by a fixed linear map.

The data for examples/tiny.toml, a job that trains, proves and verifies in a few seconds:
    python examples/make_tiny_data.py && nnet train examples/tiny.toml -o tiny-run
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file


def main() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 2, 8, 8, generator=g)
    w = torch.randn(128, 3, generator=torch.Generator().manual_seed(0))
    y = (x.reshape(600, -1) @ w).argmax(1)
    out = Path(__file__).resolve().parent / "tiny.safetensors"
    save_file({"x": x.contiguous(), "y": y}, str(out))
    print(out)


if __name__ == "__main__":
    main()
