"""Torch rules on public files that use torch *and* another framework (per-receiver gating).

A JAX tutorial that loads its data with ``torch.utils.data``, a Keras benchmark with a torch
training loop: the file imports torch, so gating a rule on the file's imports is not enough.
DLS501, DLS502, DLS503 and DLS601 must fire only where the optimizer, loss, activation or layer is
known to be torch's, and stay quiet on the other framework's objects in the same file.  Each case
is a trimmed copy of the public file named in its comment; ``expect`` lists the lines that must be
flagged.
"""

from __future__ import annotations

import textwrap

import pytest

from dlsan.lint.engine import RuleSelection, lint_source
from dlsan.lint.registry import all_rules

_RULES = {rule.code: rule for rule in all_rules()}
_GATED = ("DLS501", "DLS502", "DLS503", "DLS601")

CASES = [
    # https://github.com/keras-team/keras/blob/master/benchmarks/torch_ctl_benchmark/dense_model_benchmark.py
    # (train_loop from benchmark_utils.py inlined): the torch model ends in nn.Softmax and is trained
    # with nn.CrossEntropyLoss (a true finding); the Keras model next to it is not known to be torch's
    ("DLS502", """
        import torch
        import torch.nn as nn
        import torch.optim as optim
        import keras_core
        from keras_core import layers

        class TorchModel(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.dense1 = torch.nn.Linear(8192, 64)
                self.dense3 = torch.nn.Linear(64, 2)
                self.softmax = torch.nn.Softmax(dim=1)

            def forward(self, x):
                x = self.dense3(self.dense1(x))
                x = self.softmax(x)
                return x

        keras_model = keras_core.Sequential([layers.Input(shape=(8192,)), layers.Dense(2), layers.Softmax()])
        loss_fn = nn.CrossEntropyLoss()
        for inputs, targets in train_loader:
            loss = loss_fn(keras_model(inputs), targets)
        torch_model = TorchModel()
        for inputs, targets in train_loader:
            loss = loss_fn(torch_model(inputs), targets)
    """, [25]),
    # https://github.com/phlippe/uvadlc_notebooks_benchmarking/blob/main/JAX/Tutorial15_Vision_Transformer.py
    # a Flax ViT (layers in lists, which Flax tracks; optax.adamw's decoupled decay) in a file that
    # imports torch for its data loaders
    ("DLS601", """
        import torch
        import torch.utils.data as data
        from flax import linen as nn
        import optax

        class AttentionBlock(nn.Module):
            embed_dim: int
            hidden_dim: int

            def setup(self):
                self.attn = nn.MultiHeadDotProductAttention(num_heads=self.num_heads)
                self.linear = [nn.Dense(self.hidden_dim), nn.gelu, nn.Dropout(self.dropout_prob), nn.Dense(self.embed_dim)]

        class VisionTransformer(nn.Module):
            def setup(self):
                self.input_layer = nn.Dense(self.embed_dim)
                self.transformer = [AttentionBlock(self.embed_dim, self.hidden_dim) for _ in range(self.num_layers)]

        optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(lr_schedule, weight_decay=0.01))
    """, []),
    # https://github.com/phlippe/uvadlc_notebooks_benchmarking/blob/main/JAX/Tutorial5_Inception_ResNet_DenseNet.py
    # optax's Adam/AdamW picked by name, with a weight decay, in a file that imports torch
    ("DLS501", """
        import torch
        import torch.utils.data as data
        import optax

        def init_optimizer(optimizer_name, optimizer_hparams, lr_schedule):
            if optimizer_name.lower() == "adam":
                opt_class = optax.adam
            elif optimizer_name.lower() == "adamw":
                opt_class = optax.adamw
            return optax.chain(optax.clip(1.0), opt_class(lr_schedule, **optimizer_hparams))

        optimizer = init_optimizer("adam", {"lr": 1e-3, "weight_decay": 1e-4}, schedule)
        jax_adam = optax.adam(1e-3)
    """, []),
    # https://github.com/phlippe/uvadlc_notebooks_benchmarking/blob/main/JAX/Tutorial11_NF_image_modeling.py
    # Flax's nn.sigmoid (an invertible flow step, no loss) in a file that imports torch
    ("DLS503", """
        import torch
        import torch.utils.data as data
        import jax
        from flax import linen as nn

        class Dequantization(nn.Module):
            def sigmoid(self, z, ldj, reverse=False):
                if not reverse:
                    ldj += (-z - 2 * jax.nn.softplus(-z)).sum(axis=[1, 2, 3])
                    z = nn.sigmoid(z)
                return z, ldj
    """, []),
]


def _lines(source: str) -> dict[str, list[int]]:
    selection = RuleSelection([_RULES[code] for code in _GATED], {})
    found: dict[str, list[int]] = {}
    for finding in lint_source("case.py", textwrap.dedent(source).lstrip("\n"), selection):
        found.setdefault(finding.code, []).append(finding.line)
    return found


@pytest.mark.parametrize(("code", "source", "expect"), CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_gated_rules_on_mixed_framework_code(code: str, source: str, expect: list[int]) -> None:
    found = _lines(source)
    assert found.get(code, []) == expect
    assert not set(found) - {code}, f"other gated rules fired: {found}"
