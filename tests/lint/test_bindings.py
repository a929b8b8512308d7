"""Unit tests of "which value does this name hold here" (the semantic model's ``value_at``) and of
calls made through ``functools.partial`` (analysis/nodes)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dlsan.lint.analysis.functions import file_index, parameter_names
from dlsan.lint.analysis.nodes import callee_among, calls_in
from dlsan.lint.context import FileContext


def _context(source: str) -> FileContext:
    source = textwrap.dedent(source)
    return FileContext("t.py", source, cst.parse_module(source))


def _value_of_used_name(source: str) -> str | None:
    """The value ``value_at`` gives the argument of the last ``use(...)`` call of ``f``."""
    ctx = _context(source)
    function = file_index(ctx).functions["f"]
    use = [c for c in calls_in(ctx, function) if ctx.code(c.func) == "use"][-1]
    found = ctx.semantic.value_at(use.args[0].value)
    return None if found is None else ctx.code(found.expr)


@pytest.mark.parametrize(("body", "expected"), [
    ("x = a\n    x = b\n    use(x)", "b"),
    ("x = a\n    use(x)\n    x = b", "a"),
    ("p, q = a, b\n    use(q)", "b"),
    ("p = q = a\n    use(q)", "a"),
    ("x: int = a\n    use(x)", "a"),
    ("if (x := a):\n        use(x)", "a"),
    ("x = a\n    x = use(x)", "a"),                       # a use inside the assignment
    ("x = a\n    for x in xs:\n        use(x)", None),    # the for body reads each element
    ("x = a\n    for x in xs:\n        pass\n    use(x)", None),
    ("x = a\n    x += b\n    use(x)", None),
    ("p, q = g()\n    use(q)", None),
    ("x = a\n    ys = [x for x in xs]\n    use(x)", "a"),    # a comprehension's name stays inside it
    ("x = a\n    h = lambda x: x\n    use(x)", "a"),        # and so does a lambda's parameter
    ("x = a\n    if c:\n        x = b\n    use(x)", "b"),   # the last binding before the use
    ("x = a\n    import x\n    use(x)", None),
    ("x = a\n    def x():\n        pass\n    use(x)", None),
    ("use(x)", None),                                      # a parameter
    ("use(G)", "1"),                                       # the module's only assignment
])
def test_value_at(body, expected):
    assert _value_of_used_name(f"G = 1\ndef f(x=None):\n    {body}\n") == expected


def test_module_value_needs_a_single_assignment():
    assert _value_of_used_name("G = 1\nG = 2\ndef f():\n    use(G)\n") is None


def test_own_returns_skip_nested_functions():
    ctx = _context("""
        def forward(x):
            def inner():
                return 1
            if x:
                return x
            return -x
    """)
    returns = ctx.semantic.scope_for(file_index(ctx).functions["forward"]).returns
    assert [ctx.code(r.value) for r in returns] == ["x", "-x"]


def test_parameter_names_include_stars():
    ctx = _context("def f(a, /, b, *args, c, **kwargs):\n    pass\n")
    assert parameter_names(file_index(ctx).functions["f"]) == {"a", "b", "args", "c", "kwargs"}


@pytest.mark.parametrize(("source", "expected"), [
    ("import torch\ntorch.load(f)", ("torch.load", 0)),
    ("import torch, functools\nfunctools.partial(torch.load, map_location='cpu')", ("torch.load", 1)),
    ("from functools import partial\nfrom torch import load\npartial(load)", ("load", 1)),
    ("import pickle\npickle.load(f)", None),
    ("import functools\nfunctools.partial(open, 'r')", None),
])
def test_callee_among(source, expected):
    ctx = _context(source)
    call = calls_in(ctx, ctx.module)[0]
    found = callee_among(ctx, call, frozenset({"torch.load"}))
    assert (None if found is None else (ctx.code(found[0]), found[1])) == expected
