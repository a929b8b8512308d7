from __future__ import annotations

import libcst as cst
import pytest

from dlsan.lint.names import ImportTable, dotted_name


def _resolver(source: str) -> ImportTable:
    return ImportTable.for_module(cst.parse_module(source))


def _expr(text: str) -> cst.BaseExpression:
    return cst.parse_expression(text)


@pytest.mark.parametrize(
    "imports, expr, expected",
    [
        ("from torch import optim as O", "O.Adam", "torch.optim.Adam"),
        ("import torch", "torch.optim.Adam", "torch.optim.Adam"),
        ("import torch.nn.functional as F", "F.cross_entropy", "torch.nn.functional.cross_entropy"),
        ("import torch.nn as nn", "nn.Linear", "torch.nn.Linear"),
        ("from torch.optim import Adam", "Adam", "torch.optim.Adam"),
        ("from torch.optim import Adam as A", "A", "torch.optim.Adam"),
        ("import torch.optim", "torch.optim.SGD", "torch.optim.SGD"),
        ("import torch\nOpt = torch.optim.Adam", "Opt", "torch.optim.Adam"),
        ("try:\n    import torch as T\nexcept ImportError:\n    T = None", "T.load", "torch.load"),
        ("if True:\n    from torch import nn", "nn.ReLU", "torch.nn.ReLU"),
        ("import torch", "model.forward", None),
        ("from . import torch", "torch.load", ".torch.load"),  # the project's own module, never torch
        ("import torch", "f().load", None),
    ],
)
def test_resolve(imports, expr, expected):
    assert _resolver(imports).resolve(_expr(expr)) == expected


def test_star_import_candidates():
    resolver = _resolver("from torch.optim import *\nimport numpy as np")
    assert resolver.matches(_expr("Adam"), {"torch.optim.Adam"})
    assert not resolver.matches(_expr("np.Adam"), {"torch.optim.Adam"})


def test_local_rebinding_is_not_followed_through_star():
    resolver = _resolver("from torch.optim import *\nfrom mylib import Adam")
    assert not resolver.matches(_expr("Adam"), {"torch.optim.Adam"})


def test_dotted_name():
    assert dotted_name(_expr("a.b.c")) == "a.b.c"
    assert dotted_name(_expr("a().b")) is None
