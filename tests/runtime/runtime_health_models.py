"""Small, normally initialised models and a training loop for the training-health probe tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import dlsan
from dlsan.runtime import Sanitizer

Batch = Callable[[], tuple[torch.Tensor, torch.Tensor]]


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(16 * 2 * 2, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 16)
        self.rnn = nn.LSTM(16, 16, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.embed(tokens))[0])


class Transformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(40, 32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(32, 40)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens)))


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))


#: name -> (model factory, batch factory)
HEALTHY: dict[str, tuple[Callable[[], nn.Module], Batch]] = {
    "mlp": (mlp, lambda: (torch.randn(16, 20), torch.randint(0, 3, (16,)))),
    "cnn": (CNN, lambda: (torch.randn(8, 3, 8, 8), torch.randint(0, 4, (8,)))),
    "lstm-tagger": (Tagger, lambda: (torch.randint(0, 30, (4, 7)), torch.randint(0, 5, (4, 7)))),
    "transformer": (Transformer, lambda: (torch.randint(0, 40, (4, 8)), torch.randint(0, 40, (4, 8)))),
}


def train(
    model: nn.Module, batch: Batch, steps: int, *, lr: float = 1e-3, with_optimizer: bool = True, **kwargs: Any
) -> Sanitizer:
    """Train ``model`` with Adam for ``steps`` steps under ``dlsan.instrument`` (findings recorded)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    kwargs.setdefault("on_error", "record")
    with dlsan.instrument(model, optimizer=optimizer if with_optimizer else None, **kwargs) as san:
        for _ in range(steps):
            x, y = batch()
            optimizer.zero_grad()
            out = model(x)
            F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)).backward()
            optimizer.step()
    return san


def kinds(san: Sanitizer) -> list[str]:
    return sorted({finding.kind for finding in san.findings})
