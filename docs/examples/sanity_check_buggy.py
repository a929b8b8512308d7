"""The README's worked example: a text classifier whose encoder attends across the batch."""

from __future__ import annotations

import torch
from torch import nn

import dlsan


class Classifier(nn.Module):
    def __init__(self, vocab: int = 100, dim: int = 16, classes: int = 5) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, nhead=2, dim_feedforward=32)  # batch_first=True forgotten
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # tokens: (batch, time)
        out: torch.Tensor = self.head(self.encoder(self.embed(tokens)).mean(dim=1))
        return out


torch.manual_seed(0)
tokens, labels = torch.randint(0, 100, (16, 8)), torch.randint(0, 5, (16,))
report = dlsan.sanity_check(Classifier(), (tokens, labels), nn.CrossEntropyLoss())
print(report)
