"""Cached subtree and source-text queries, and the parts of a call: method name, receiver, callee (also through
``functools.partial``).  Parents and ancestors come from the semantic model (one parent map).

The queries asked for every node test exact types (``type(n) is cst.Call``): libcst's classes are
ABCs, several times slower to ask with ``isinstance``, and the parser builds no subclasses of them."""

from __future__ import annotations

import libcst as cst

from dlsan.lint.context import FileContext, file_fact, node_fact
from dlsan.lint.semantic.qualified import refers_to_torch
from dlsan.lint.walk import descendants


@node_fact
def nodes_in(context: FileContext, root: cst.CSTNode) -> list[cst.CSTNode]:
    """Every node below ``root`` in source order (cached per root).

    A slice of the module's one pre-order list (``context.preorder``): analyses ask for the nodes of
    a function, then of each loop in it, then of the loop's body, and walking each of those
    subtrees again was a tenth of a large file's lint."""
    below = context.preorder.below(root)
    return descendants(root) if below is None else below  # None: a node made by a rule, not the file's


@file_fact
def positions_by_type(context: FileContext) -> dict[type[cst.CSTNode], list[int]]:
    """The positions in the module's pre-order list (``context.preorder``) of its nodes of each
    type, in order: one pass, for the analyses that look for a few kinds of node in the file."""
    found: dict[type[cst.CSTNode], list[int]] = {}
    for index, node in enumerate(context.preorder.nodes):
        known = found.get(type(node))
        if known is None:
            found[type(node)] = [index]
        else:
            known.append(index)
    return found


@file_fact
def function_names(context: FileContext) -> frozenset[str]:
    """The name of every ``def`` of the file, at any depth."""
    nodes = context.preorder.nodes
    return frozenset(nodes[index].name.value for index in positions_by_type(context).get(cst.FunctionDef, ()))  # type: ignore[attr-defined]


def uses_in(context: FileContext, root: cst.CSTNode, name: str) -> int:
    """How many times ``name`` appears as a Name below ``root`` (bindings included)."""
    return sum(1 for node in nodes_in(context, root) if type(node) is cst.Name and node.value == name)


@node_fact
def calls_in(context: FileContext, root: cst.CSTNode) -> list[cst.Call]:
    """Every call below ``root``, nested function and class bodies included, in source order."""
    return [n for n in nodes_in(context, root) if type(n) is cst.Call]


@node_fact
def source_mentions(context: FileContext, names: frozenset[str]) -> bool:
    """Whether the file's text has the last part of one of the qualified ``names`` at all (a
    cheap gate before resolving calls: ``MSELoss`` for ``torch.nn.MSELoss``)."""
    return any(name.rsplit(".", 1)[-1] in context.source for name in names)


def ancestors_of(context: FileContext, node: cst.CSTNode) -> list[cst.CSTNode]:
    """Enclosing nodes of ``node``, innermost first (for analysis outside the walk)."""
    return list(context.semantic.ancestors(node))


def method_name(call: cst.Call) -> str | None:
    """``"step"`` for ``opt.step()``, ``None`` for calls that are not ``x.name(...)``."""
    func = call.func
    return func.attr.value if type(func) is cst.Attribute else None


def receiver(call: cst.Call) -> cst.BaseExpression | None:
    """``opt`` for ``opt.step()``."""
    func = call.func
    return func.value if type(func) is cst.Attribute else None


_PARTIAL = frozenset({"functools.partial"})


def callee_among(context: FileContext, call: cst.Call,
                 qualified: frozenset[str]) -> tuple[cst.BaseExpression, int] | None:
    """``(callee, offset)`` when ``call`` runs one of the torch functions ``qualified``, known to
    be torch's where it is written (:func:`~dlsan.lint.semantic.qualified.refers_to_torch`):
    directly (``torch.load(f)``, offset 0) or bound by ``functools.partial(torch.load, ...)``
    (offset 1: its arguments sit one position later); ``None`` otherwise."""
    if refers_to_torch(context, call.func, qualified):
        return call.func, 0
    if context.names.matches(call.func, _PARTIAL) and call.args and refers_to_torch(
            context, call.args[0].value, qualified):
        return call.args[0].value, 1
    return None
