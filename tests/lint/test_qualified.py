"""What a name refers to where it is written (:mod:`dlsan.lint.semantic.qualified`)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dlsan.lint.context import FileContext
from dlsan.lint.semantic.qualified import qualified_names, refers_to_torch

_ADAM = frozenset({"torch.optim.Adam"})


def _last_call_func(source: str) -> tuple[FileContext, cst.BaseExpression]:
    source = textwrap.dedent(source).lstrip("\n")
    module = cst.parse_module(source)
    context = FileContext("t.py", source, module)
    calls: list[cst.Call] = []

    class _Calls(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            calls.append(node)

    module.visit(_Calls())
    return context, calls[-1].func


@pytest.mark.parametrize(("source", "expected"), [
    ("from torch.optim import Adam\nAdam(p)", {"torch.optim.Adam"}),
    ("import torch as T\nAdam = T.optim.Adam\nAdam(p)", {"torch.optim.Adam"}),
    ("try:\n    import torch.optim as O\nexcept ImportError:\n    O = None\nO.Adam(p)", {"torch.optim.Adam"}),
    ("from torch.optim import *\nfrom keras.optimizers import *\nAdam(p)",
     {"torch.optim.Adam", "keras.optimizers.Adam"}),
    ("from torch.optim import *\ndef Adam(lr):\n    pass\nAdam(1e-3)", set()),
    ("""
        from torch.optim import Adam
        def keras():
            from keras.optimizers import Adam
            return Adam(learning_rate=1e-3)
    """, {"keras.optimizers.Adam"}),
    ("""
        from keras.optimizers import Adam
        def torch_opt(model):
            from torch.optim import Adam
            return Adam(params)
    """, {"torch.optim.Adam"}),
    ("def build(Adam):\n    return Adam(p)", set()),
])
def test_qualified_names_follow_the_bindings_that_reach_the_use(source: str, expected: set[str]) -> None:
    context, func = _last_call_func(source)
    assert qualified_names(context, func) == expected


@pytest.mark.parametrize(("source", "torch"), [
    ("from torch.optim import Adam\nAdam(p)", True),
    ("from torch.optim import *\nAdam(p)", True),
    ("from torch.optim import *\nfrom keras.optimizers import *\nAdam(p)", False),
    ("import optax\noptax.adam(1e-3)", False),
    ("from torch.optim import *\ndef Adam(lr):\n    pass\nAdam(1e-3)", False),
])
def test_refers_to_torch_only_when_every_reading_is_torch(source: str, torch: bool) -> None:
    context, func = _last_call_func(source)
    assert refers_to_torch(context, func, _ADAM) is torch
