"""Small models for the sanity-check tests: one per bug a check exists for, and their healthy bases.

Each buggy model has exactly the bug its docstring names, written the way it appears in real
training code; everything else about it is ordinary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

Batch = tuple[Any, Any]
CLASSES = 4
VOCAB = 20


def vector_batch(n: int = 16, features: int = 10) -> Batch:
    return torch.randn(n, features), torch.randint(0, CLASSES, (n,))


def token_batch(n: int = 8, length: int = 6) -> Batch:
    return torch.randint(1, VOCAB, (n, length)), torch.randint(0, CLASSES, (n,))


def fast_adam(params: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=1e-2)


# -- healthy --------------------------------------------------------------------------------------


def mlp(features: int = 10) -> nn.Sequential:
    return nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.LayerNorm(32), nn.Linear(32, CLASSES))


class TransformerClassifier(nn.Module):
    def __init__(self, batch_first: bool = True) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=batch_first)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(32, CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.encoder(self.embed(tokens)).mean(dim=1))
        return out


#: healthy models besides the shared zoo of runtime_health_models.py (which has a CNN with
#: batch-norm and dropout, an MLP, an LSTM tagger and a transformer): the bases of the buggy ones
HEALTHY: dict[str, tuple[Callable[[], nn.Module], Callable[[], Batch]]] = {
    "mlp-layernorm": (mlp, vector_batch),
    "transformer-classifier": (TransformerClassifier, token_batch),
}


# -- one bug each ---------------------------------------------------------------------------------


class ViewInsteadOfTranspose(nn.Module):
    """batch-independence: ``(N, T, D)`` needs ``transpose(0, 1)`` for a time-major LSTM; ``view``
    keeps the memory order, so each 'time step' holds pieces of different samples."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(10, 16)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        hidden, _ = self.rnn(x.view(t, n, d))
        out: torch.Tensor = self.head(hidden[-1])
        return out


def sequence_batch(n: int = 8) -> Batch:
    return torch.randn(n, 5, 10), torch.randint(0, CLASSES, (n,))


class FrozenBranch(nn.Module):
    """gradients-reach-parameters: the context branch is computed under ``no_grad`` (copied from
    an evaluation helper), so its weights never get a gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Linear(10, 16)
        self.context = nn.Sequential(nn.Linear(10, 16), nn.Tanh())
        self.head = nn.Linear(32, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            context = self.context(x)
        out: torch.Tensor = self.head(torch.cat([torch.relu(self.main(x)), context], dim=1))
        return out


class LooksUpPositions(nn.Module):
    """input-dependence: the features are looked up by position in the batch (``arange``) instead
    of from the example, so the model memorises the batch without reading it."""

    def __init__(self, batch: int = 16) -> None:
        super().__init__()
        self.table = nn.Embedding(batch, 16)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(torch.relu(self.table(torch.arange(x.shape[0], device=x.device))))
        return out


def softmax_mlp() -> nn.Module:
    """overfit-one-batch: ends in ``Softmax`` and is trained with ``CrossEntropyLoss``, which
    applies log-softmax again: the loss cannot fall below ln(1 + (C-1)/e)."""
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, CLASSES), nn.Softmax(dim=1))


class UnitNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x / x.norm(dim=1, keepdim=True)
        return out


class NormalisesRows(nn.Module):
    """zero-lr-finite: rows scaled to unit norm by dividing by their norm; an all-zero row (padding)
    is 0/0 = NaN whatever the learning rate."""

    def __init__(self) -> None:
        super().__init__()
        self.normalise = UnitNorm()
        self.body = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(self.normalise(x))
        return out


def padded_batch() -> Batch:
    x, y = vector_batch()
    x[3] = 0.0
    return x, y


class HotLogits(nn.Module):
    """loss-at-init: a temperature multiplied instead of divided (``logits * 20`` for ``/ 0.05``):
    confidently wrong from the first step."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()
        self.temperature = 20.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x) * self.temperature
        return out


def regressor() -> nn.Module:
    """output-target-shapes with MSE: the output is ``(N, 1)`` and the targets ``(N,)``."""
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 1))
