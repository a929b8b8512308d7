"""Function summaries: what a function or method of the project does with its arguments.

A summary is computed once per function (memoised on the function's file context) from its own
body.  Today it says whether the function keeps its arguments only as plain numbers
(:attr:`FunctionSummary.converts_arguments`): every read of a parameter, or of a name taken from
one element by element (``for a, b in zip(self.data, args)``), sits inside ``float()``, ``int()``,
``.item()``, ``.detach()``, ``.tolist()`` or ``len()``.  ``d2l.Accumulator.add`` is such a method,
so ``metric.add(loss)`` keeps no autograd graph alive.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from dlsan.lint.context import Fact, FileContext
from dlsan.lint.semantic.scopes import BindingKind, Scope
from dlsan.lint.walk import children

#: calls whose result keeps nothing of a tensor's graph
_CONVERTING_FUNCTIONS = frozenset({"float", "int", "len", "bool", "str", "round"})
_CONVERTING_METHODS = frozenset({"item", "detach", "tolist", "numpy"})


@dataclass(frozen=True)
class FunctionSummary:
    #: the function keeps or returns its arguments only converted to plain numbers
    converts_arguments: bool


_SUMMARIES: Fact[cst.FunctionDef, FunctionSummary] = Fact("function summaries")


def summary_of(context: FileContext, function: cst.FunctionDef) -> FunctionSummary:
    """The summary of ``function`` (a function or method of ``context``'s file)."""
    return _SUMMARIES.get(context, function, lambda: _summarise(context, function))


def _summarise(context: FileContext, function: cst.FunctionDef) -> FunctionSummary:
    scope = context.semantic.scope_for(function)
    derived = _derived_names(context, scope)
    return FunctionSummary(converts_arguments=bool(derived) and _only_converted(context, scope, derived))


def _derived_names(context: FileContext, scope: Scope) -> set[str]:
    """The parameters (``self``/``cls`` aside) and the names bound element-wise from them."""
    names = {name for name, bindings in scope.bindings.items()
             if any(b.kind is BindingKind.PARAMETER for b in bindings) and name not in ("self", "cls")}
    for inner in _comprehensions(scope):
        for binding_name, bindings in inner.bindings.items():
            for binding in bindings:
                if binding.kind is BindingKind.COMPREHENSION_TARGET and _element_reads(binding.value, binding.index,
                                                                                        names):
                    names.add(binding_name)
    return names


def _comprehensions(scope: Scope) -> list[Scope]:
    found, stack = [], list(scope.children)
    while stack:
        inner = stack.pop()
        if inner.kind.value == "comprehension":
            found.append(inner)
            stack.extend(inner.children)
    return found


def _element_reads(iterable: cst.BaseExpression | None, index: int | None, names: set[str]) -> bool:
    """Whether the ``index``-th part of an element of ``iterable`` comes from ``names``:
    ``zip(self.data, args)`` gives ``args`` only to part 1."""
    if iterable is None:
        return False
    if (index is not None and isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name)
            and iterable.func.value == "zip" and index < len(iterable.args)):
        iterable = iterable.args[index].value
    return bool(_names_in(iterable) & names)


def _names_in(node: cst.CSTNode) -> set[str]:
    found, stack = set(), [node]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Name):
            found.add(item.value)
        stack.extend(children(item))
    return found


def _only_converted(context: FileContext, scope: Scope, derived: set[str]) -> bool:
    """Whether every read of a derived name sits inside a converting call (or only feeds a
    comprehension's iterable, whose element-wise names are checked themselves)."""
    for frame in (scope, *_comprehensions(scope)):
        for name in derived:
            for read in frame.frame.reads.get(name, []):
                if not _converted(context, read):
                    return False
    return True


def _converted(context: FileContext, read: cst.BaseExpression) -> bool:
    previous: cst.CSTNode = read
    for node in context.semantic.ancestors(read):
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Name) and func.value in _CONVERTING_FUNCTIONS:
                return True
            if isinstance(func, cst.Attribute) and func.attr.value in _CONVERTING_METHODS:
                return True
        if isinstance(node, cst.CompFor) and previous is node.iter:
            return True
        if isinstance(node, (cst.BaseSmallStatement, cst.BaseCompoundStatement, cst.FunctionDef)):
            return False
        previous = node
    return False
