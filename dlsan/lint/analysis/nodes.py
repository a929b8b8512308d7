"""Cached subtree queries, and the parts of a call: method name, receiver, callee (also through
``functools.partial``)."""

from __future__ import annotations

import libcst as cst

from dlsan.lint.context import FileContext
from dlsan.lint.walk import children, descendants


def nodes_in(context: FileContext, root: cst.CSTNode) -> list[cst.CSTNode]:
    """Every node below ``root`` in source order (cached per root)."""
    return context.fact(("nodes_in", id(root)), lambda: descendants(root))


def calls_in(context: FileContext, root: cst.CSTNode) -> list[cst.Call]:
    """Every call below ``root``, nested function and class bodies included, in source order."""
    return context.fact(("calls_in", id(root)),
                        lambda: [n for n in nodes_in(context, root) if isinstance(n, cst.Call)])


def parent_map(context: FileContext) -> dict[int, cst.CSTNode]:
    """``id(node) -> parent`` for the whole module; one extra walk, done only on first use."""

    def build() -> dict[int, cst.CSTNode]:
        parents: dict[int, cst.CSTNode] = {}
        stack: list[cst.CSTNode] = [context.module]
        while stack:
            node = stack.pop()
            for child in children(node):
                parents[id(child)] = node
                stack.append(child)
        return parents

    return context.fact("parent_map", build)


def ancestors_of(context: FileContext, node: cst.CSTNode) -> list[cst.CSTNode]:
    """Enclosing nodes of ``node``, innermost first (for analysis outside the walk)."""
    parents = parent_map(context)
    chain: list[cst.CSTNode] = []
    current = parents.get(id(node))
    while current is not None:
        chain.append(current)
        current = parents.get(id(current))
    return chain


#: nodes whose body may run fewer times than the code around them (or not at all)
CONDITIONAL = (cst.If, cst.IfExp, cst.For, cst.While, cst.Try, cst.ExceptHandler, cst.Match)


def runs_whenever(context: FileContext, node: cst.CSTNode, outer: cst.CSTNode | None) -> bool:
    """Whether ``node`` runs every time its ancestor ``outer`` (``None``: the module) does: no
    branch, loop or ``try`` lies between them."""
    for ancestor in ancestors_of(context, node):
        if ancestor is outer:
            return True
        if isinstance(ancestor, CONDITIONAL):
            return False
    return True


def method_name(call: cst.Call) -> str | None:
    """``"step"`` for ``opt.step()``, ``None`` for calls that are not ``x.name(...)``."""
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def receiver(call: cst.Call) -> cst.BaseExpression | None:
    """``opt`` for ``opt.step()``."""
    return call.func.value if isinstance(call.func, cst.Attribute) else None


_PARTIAL = frozenset({"functools.partial"})


def callee_among(context: FileContext, call: cst.Call,
                 qualified: frozenset[str]) -> tuple[cst.BaseExpression, int] | None:
    """``(callee, offset)`` when ``call`` runs one of the ``qualified`` functions: directly
    (``torch.load(f)``, offset 0) or bound by ``functools.partial(torch.load, ...)`` (offset 1: its
    arguments sit one position later); ``None`` otherwise."""
    names = context.names
    if names.matches(call.func, qualified):
        return call.func, 0
    if names.matches(call.func, _PARTIAL) and call.args and names.matches(call.args[0].value, qualified):
        return call.args[0].value, 1
    return None
