"""A model whose only mode-dependent layers are dropouts with a rate of 0 does not depend on the
mode: DLS301 follows the rate from the construction of the instance into the class's ``__init__``.

Written after rasbt/LLMs-from-scratch ch03/03_understanding-buffers/understanding-buffers.ipynb,
which builds ``CausalAttention(d_in, d_out, context_length, 0.0)`` and runs it under ``no_grad``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dlsan.lint.api import lint_paths, lint_source

ATTENTION = """
    import torch
    import torch.nn as nn
    class CausalAttention(nn.Module):
        def __init__(self, d_in, d_out, dropout, qkv_bias=False):
            super().__init__()
            self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
            self.dropout = nn.Dropout(dropout)
        def forward(self, x):
            return self.dropout(self.W_query(x))
    class Block(nn.Module):
        def __init__(self, d, drop_rate):
            super().__init__()
            self.att = CausalAttention(d, d, drop_rate)
            self.norm = nn.LayerNorm(d)
        def forward(self, x):
            return self.att(self.norm(x))
    model = {construction}
    with torch.no_grad():
        out = model(batch)
"""


def _flagged(construction: str) -> bool:
    source = ATTENTION.replace("{construction}", construction)
    return bool(lint_source(source, "example.py", select=["DLS301"]))


@pytest.mark.parametrize("construction", [
    "CausalAttention(8, 8, 0.0)",
    "CausalAttention(8, 8, dropout=0)",
    "CausalAttention(d_in=8, d_out=8, dropout=0.0, qkv_bias=True)",
    "Block(8, 0.0)",  # the rate handed on to the inner class
    "Block(8, drop_rate=0)",
])
def test_dropout_rate_zero_at_construction_is_mode_free(construction: str) -> None:
    assert not _flagged(construction)


@pytest.mark.parametrize("construction", [
    "CausalAttention(8, 8, 0.1)",
    "CausalAttention(8, 8, dropout=cfg['drop_rate'])",  # unknown rate: the dropout may drop
    "CausalAttention(8, 8, *rates)",
    "Block(8, 0.5)",
])
def test_dropout_rate_not_known_to_be_zero_depends_on_the_mode(construction: str) -> None:
    assert _flagged(construction)


def test_a_literal_zero_rate_inside_the_class_is_mode_free() -> None:
    source = ATTENTION.replace("nn.Dropout(dropout)", "nn.Dropout(p=0.0)").replace(
        "{construction}", "CausalAttention(8, 8, 0.3)")
    assert not lint_source(source, "example.py", select=["DLS301"])


def _subclassed(subclass: str, construction: str) -> bool:
    source = ATTENTION.replace("{construction}", construction).replace(
        "    class Block(nn.Module):", subclass + "    class Block(nn.Module):")
    return bool(lint_source(source, "example.py", select=["DLS301"]))


def test_a_subclass_without_its_own_init_is_built_by_the_base_one() -> None:
    # pyg-team/pytorch_geometric examples/multi_gpu/papers100m_gcn.py: GCN(BasicGNN) has no
    # __init__, BasicGNN's takes dropout=0.0 by default
    subclass = "    class Masked(CausalAttention):\n        pass\n"
    assert not _subclassed(subclass, "Masked(8, 8, 0.0)")
    assert _subclassed(subclass, "Masked(8, 8, 0.2)")


def test_a_subclass_with_its_own_init_keeps_the_base_dropout() -> None:
    subclass = ("    class Masked(CausalAttention):\n        def __init__(self, d, dropout):\n"
                "            super().__init__(d, d, 0.1)\n")
    assert _subclassed(subclass, "Masked(8, 0.0)")


def test_the_rate_is_followed_into_a_class_of_another_project_file(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(textwrap.dedent(ATTENTION.split("    model = ")[0]))
    for rate, flagged in (("0.0", False), ("0.3", True)):
        (tmp_path / "evaluate.py").write_text(textwrap.dedent(f"""
            import torch
            from models import Block
            model = Block(8, {rate})
            with torch.no_grad():
                out = model(batch)
        """))
        found = [f for r in lint_paths([tmp_path / "evaluate.py"], select=["DLS301"]).files for f in r.findings]
        assert bool(found) is flagged, rate
