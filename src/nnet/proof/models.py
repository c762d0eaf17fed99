"""The model registry: each job spec names one of these and its options (proof/spec.py checks them).

mlp (any input, flattened), cnn (small conv net for images), resnet20 (He et al.'s CIFAR ResNet,
3 stages of 3 basic blocks), transformer (a small causal decoder language model). Initial weights
come from torch's default initialisers under a seed set by the caller, so they are a pure function
of the job seed. Imports torch: only the trainer and the verifier load this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["build_model"]


class MLP(nn.Module):
    def __init__(self, in_features: int, classes: int, hidden: list[int], dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class CNN(nn.Module):
    def __init__(
        self, shape: tuple[int, ...], classes: int, channels: list[int], hidden: int
    ) -> None:
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        for ch in channels:
            layers += [nn.Conv2d(c, ch, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c, h, w = ch, h // 2, w // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(x))
        return out


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet-(6n+2): ResNet-20 is n = 3, about 0.27 M parameters at width 16."""

    def __init__(self, in_channels: int, classes: int, width: int, depth: int) -> None:
        super().__init__()
        n = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        cin = width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(self.stem(x))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        result: torch.Tensor = self.fc(out)
        return result


class TinyGPT(nn.Module):
    """A causal decoder LM: token + position embeddings, pre-norm blocks, tied output head."""

    def __init__(
        self, vocab: int, context: int, d_model: int, heads: int, layers: int, dropout: float
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(context, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, 4 * d_model, dropout, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.register_buffer(
            "mask", torch.triu(torch.full((context, context), float("-inf")), 1), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        h = self.tok(x) + self.pos(torch.arange(t, device=x.device))
        mask: torch.Tensor = self.mask  # type: ignore[assignment]
        h = self.blocks(h, mask=mask[:t, :t], is_causal=True)
        logits: torch.Tensor = self.norm(h) @ self.tok.weight.T  # [B, T, vocab]
        return logits


Builder = Callable[[dict[str, Any], tuple[int, ...], int], nn.Module]


def _mlp(o: dict[str, Any], shape: tuple[int, ...], classes: int) -> nn.Module:
    return MLP(int(torch.tensor(shape).prod()), classes, o["hidden"], o["dropout"])


def _cnn(o: dict[str, Any], shape: tuple[int, ...], classes: int) -> nn.Module:
    if len(shape) != 3:
        raise ValueError(f"cnn needs image data [C, H, W], got {list(shape)}")
    return CNN(shape, classes, o["channels"], o["hidden"])


def _resnet(o: dict[str, Any], shape: tuple[int, ...], classes: int) -> nn.Module:
    if len(shape) != 3:
        raise ValueError(f"resnet20 needs image data [C, H, W], got {list(shape)}")
    if (o["depth"] - 2) % 6:
        raise ValueError(f"model.depth must be 6n + 2 (20, 32, 44, ...), got {o['depth']}")
    return ResNet(shape[0], classes, o["width"], o["depth"])


def _transformer(o: dict[str, Any], shape: tuple[int, ...], classes: int) -> nn.Module:
    if len(shape) != 1:
        raise ValueError(f"transformer needs token sequences [T], got {list(shape)}")
    return TinyGPT(o["vocab"], shape[0], o["d_model"], o["heads"], o["layers"], o["dropout"])


MODELS: dict[str, Builder] = {
    "mlp": _mlp,
    "cnn": _cnn,
    "resnet20": _resnet,
    "transformer": _transformer,
}


def build_model(options: dict[str, Any], sample_shape: tuple[int, ...], classes: int) -> nn.Module:
    """A fresh model (initialised from torch's current RNG state) for one example's shape."""
    return MODELS[options["name"]](options, sample_shape, classes)
