"""What a name refers to where it is written (:mod:`dlsan.lint.semantic.qualified`)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dlsan.lint.api import lint_source
from dlsan.lint.context import FileContext
from dlsan.lint.semantic.qualified import refers_to_torch

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
    assert context.names.qualified(func) == expected


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


def test_an_import_inside_one_function_is_not_seen_in_another() -> None:
    # the file-wide table this replaced learnt function-level imports as the walk met them, so
    # `F` in `second` resolved once `first` had been walked, and not before
    context, func = _last_call_func("""
        def first(x):
            import torch.nn.functional as F
            return F.relu(x)
        def second(x):
            return F.relu(x)
    """)
    assert context.names.qualified(func) == frozenset()
    assert context.names.resolve(func) is None
    assert "torch.nn.functional" in context.names.imported()  # the file imports it all the same
    walked = textwrap.dedent("""
        def first(x, y):
            import torch.nn.functional as F
            return F.cross_entropy(x, y)
        def second(x, y):
            return F.cross_entropy(F.softmax(x, dim=1), y)
    """)
    assert lint_source(walked, "t.py", select=["DLS502"]) == []
    assert [f.line for f in lint_source(walked.replace("    return F.cross_entropy(F", "    import torch.nn.functional as F\n"
                                                       "    return F.cross_entropy(F"), "t.py", select=["DLS502"])] == [7]


def test_resolve_needs_one_name_bound_where_it_is_read() -> None:
    context, func = _last_call_func("from torch.optim import *\nAdam(p)")
    assert context.names.qualified(func) == {"torch.optim.Adam"} and context.names.resolve(func) is None
    context, func = _last_call_func("""
        try:
            from torch.optim import Adam
        except ImportError:
            from keras.optimizers import Adam
        Adam(p)
    """)
    assert context.names.qualified(func) == {"torch.optim.Adam", "keras.optimizers.Adam"}
    assert context.names.resolve(func) is None
    context, func = _last_call_func("import torch.nn.functional as F\ndef loss(F, x):\n    return F.relu(x)")
    assert context.names.resolve(func) is None  # a parameter named F is a local object


def test_a_node_a_rule_builds_is_read_at_the_top_level() -> None:
    context, _ = _last_call_func("import torch as T\nT.zeros(1)")
    assert context.names.resolve(cst.parse_expression("T.nn")) == "torch.nn"
    assert context.names.top_level("T") == "torch" and context.names.top_level("nn") is None
