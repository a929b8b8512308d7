"""Which value a name holds at a use, and what constructed an object: the conservative answer.

A name's value at a use is the right-hand side of the last plain assignment before the use in the
same function (``x = v``, ``a, b = va, vb``, ``a = b = v``, ``x: T = v``, ``(x := v)``) or, for
a name the function neither binds nor takes as a parameter, the module's only assignment to it.
Any other binding in between - a ``for`` target, unpacking a call, ``+=``, ``with ... as``, an
import, a nested ``def`` - gives ``None``, and so does a name that a comprehension or a lambda
binds anywhere in the scope.  A use inside a binding (``x = x + 1``, the body of ``for x in ...``)
reads the value from before it.  The shape inference (:mod:`.shapes`) and the activation, constructor
and constant lookups (:mod:`.activations`, DLS501) all answer "what is this name" here.

An object's constructor is followed through such assignments, ``self.attr = ...`` set once in the
class, and calls like ``.to(device)`` / ``.cuda()`` that return the object itself, and into a
function's parameter when every same-file caller passes an object of the same constructor.

:mod:`.dataflow` answers a different question and keeps its own index: *every* binding that may
reach a use (augmented and item assignments, ``for`` targets with their iterable, dotted targets
such as ``self.total``, loop back edges), for graph tracking and taint, where a partial answer
still counts; here any doubt must give ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from dlsan.lint.analysis.callers import call_sites, enclosing_function
from dlsan.lint.analysis.functions import file_index, parameter_names
from dlsan.lint.analysis.nodes import nodes_in
from dlsan.lint.calls import get_arg, has_unpacking, numeric_value
from dlsan.lint.context import FileContext
from dlsan.lint.names import dotted_name
from dlsan.lint.walk import children

#: methods that return the module or tensor they are called on
SELF_RETURNING = frozenset({"to", "cuda", "cpu", "eval", "train", "float", "double", "half",
                            "bfloat16", "requires_grad_", "to_empty"})
_MAX_DEPTH = 8


@dataclass(frozen=True)
class Binding:
    """One binding of a name in a scope."""

    #: source-order position of the binding's last node in its scope: a use at or before it (in
    #: the assigned value, in a ``for`` body) reads the previous value
    position: int
    name: str
    #: the assigned value for a plain assignment; ``None`` for any other kind of binding
    value: cst.BaseExpression | None
    #: the binding statement or expression
    node: cst.CSTNode


@dataclass(frozen=True)
class Located:
    """An expression and the scope (function, or module) whose names it reads."""

    expr: cst.BaseExpression
    scope: cst.CSTNode


def target_names(target: cst.BaseExpression, *, attributes: bool = False) -> list[str]:
    """The names an assignment target binds (``a, (b, *c) = ...`` -> ``a, b, c``); with
    ``attributes``, ``self.x`` / ``obj.y.z`` targets count too, by their last part."""
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [name for element in target.elements for name in target_names(element.value, attributes=attributes)]
    if isinstance(target, cst.StarredElement):
        return target_names(target.value, attributes=attributes)
    if attributes and isinstance(target, cst.Attribute):
        name = dotted_name(target)
        return [name.rsplit(".", 1)[-1]] if name else []
    return []


def _parallel_pairs(target: cst.BaseExpression,
                    value: cst.BaseExpression) -> list[tuple[str, cst.BaseExpression | None]] | None:
    """``x = v`` and ``a, b = va, vb``: each name with its own value (``None`` when not that shape)."""
    if isinstance(target, cst.Name):
        return [(target.value, value)]
    if not (isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List))):
        return None
    names, values = target.elements, value.elements
    if len(names) != len(values) or any(isinstance(e, cst.StarredElement) for e in (*names, *values)):
        return None
    if not all(isinstance(e.value, cst.Name) for e in names):
        return None
    return [(e.value.value, v.value) for e, v in zip(names, values)]  # type: ignore[attr-defined]


def _assigned(target: cst.BaseExpression, value: cst.BaseExpression) -> list[tuple[str, cst.BaseExpression | None]]:
    pairs = _parallel_pairs(target, value)
    return pairs if pairs is not None else [(name, None) for name in target_names(target)]


def _node_bindings(node: cst.CSTNode) -> list[tuple[str, cst.BaseExpression | None]]:
    if isinstance(node, cst.Assign):
        return [pair for target in node.targets for pair in _assigned(target.target, node.value)]
    if isinstance(node, cst.AnnAssign) and node.value is not None:
        return [(name, node.value) for name in target_names(node.target)]
    if isinstance(node, cst.NamedExpr):
        return [(name, node.value) for name in target_names(node.target)]
    if isinstance(node, (cst.AugAssign, cst.For, cst.CompFor)):
        return [(name, None) for name in target_names(node.target)]
    if isinstance(node, cst.AsName):  # with ... as x, except E as x, import m as x
        return [(name, None) for name in target_names(node.name)]
    if isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
        return [(_imported_name(alias), None) for alias in node.names if alias.asname is None]
    return []


def _imported_name(alias: cst.ImportAlias) -> str:
    """``torch`` for ``import torch.nn``, ``nn`` for ``from torch import nn``."""
    return (dotted_name(alias.name) or "").split(".")[0]


@dataclass
class ScopeNames:
    """The bindings of one scope, and the source-order position of each of its own nodes."""

    bindings: dict[str, list[Binding]]
    positions: dict[int, int]
    #: the scope's own nodes in source order (nested functions and classes included, not entered)
    own_nodes: list[cst.CSTNode]
    #: names bound by a comprehension or a lambda somewhere in the scope: never resolved
    opaque: set[str]


_NESTED_SCOPES = frozenset({cst.FunctionDef, cst.ClassDef, cst.Lambda})
_BINDERS = frozenset({cst.Assign, cst.AnnAssign, cst.AugAssign, cst.For, cst.CompFor, cst.AsName, cst.NamedExpr,
                      cst.Import, cst.ImportFrom})


def scope_names(context: FileContext, scope: cst.CSTNode) -> ScopeNames:
    """Bindings and positions of ``scope``'s own nodes; nested functions and classes are not
    entered (their names are bound, their bodies belong to other scopes)."""

    def build() -> ScopeNames:
        found: dict[str, list[Binding]] = {}
        positions: dict[int, int] = {}
        own: list[cst.CSTNode] = []
        opaque: set[str] = set()
        # pre-order; a binder is pushed again to register its bindings once its subtree is numbered
        stack: list[tuple[cst.CSTNode, bool]] = [(child, False) for child in reversed(children(scope))]
        while stack:
            node, leaving = stack.pop()
            if leaving:
                for name, value in _node_bindings(node):
                    found.setdefault(name, []).append(Binding(len(own) - 1, name, value, node))
                continue
            position = positions[id(node)] = len(own)
            own.append(node)
            kind = type(node)
            if kind in _NESTED_SCOPES:
                if kind is cst.Lambda:
                    opaque |= {param.name.value for param in node.params.params}
                else:
                    found.setdefault(node.name.value, []).append(Binding(position, node.name.value, None, node))
                continue
            if kind is cst.CompFor:
                opaque |= set(target_names(node.target))
            if kind in _BINDERS:
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(children(node)))
        return ScopeNames(found, positions, own, opaque)

    return context.fact(("scope_names", id(scope)), build)


def own_returns(context: FileContext, function: cst.FunctionDef) -> list[cst.Return]:
    """The ``return`` statements of ``function`` itself (not of functions nested in it), in order."""
    return [node for node in scope_names(context, function).own_nodes if isinstance(node, cst.Return)]


def bindings(context: FileContext, scope: cst.CSTNode) -> dict[str, list[Binding]]:
    """Every binding of each name in ``scope`` (nested functions and classes excluded)."""
    return scope_names(context, scope).bindings


def value_at(context: FileContext, name: cst.Name, scope: cst.CSTNode) -> Located | None:
    """The value ``name`` holds where it is used in ``scope``, when one plain assignment says so."""
    names = scope_names(context, scope)
    if name.value in names.opaque:
        return None
    local = names.bindings.get(name.value, [])
    if local:
        use = names.positions.get(id(name))
        if use is None:
            return None
        before = [b for b in local if b.position < use]
        if not before or before[-1].value is None:
            return None
        return Located(before[-1].value, scope)
    if isinstance(scope, (cst.FunctionDef, cst.Lambda)) and name.value in parameter_names(scope):
        return None
    if scope is context.module:
        return None
    module_bindings = bindings(context, context.module).get(name.value, [])
    if len(module_bindings) == 1 and module_bindings[0].value is not None:
        return Located(module_bindings[0].value, context.module)
    return None


def self_attribute(expr: cst.BaseExpression | None) -> str | None:
    """``"x"`` for ``self.x``; ``None`` for anything else."""
    name = dotted_name(expr) if expr is not None else None
    if name is None or not name.startswith("self.") or name.count(".") != 1:
        return None
    return name[5:]


def attribute_value(context: FileContext, cls: cst.ClassDef, attr: str) -> Located | None:
    """The value of ``self.<attr>`` when the class assigns it exactly once."""

    def build() -> dict[str, list[Located | None]]:
        found: dict[str, list[Located | None]] = {}
        for method in file_index(context).methods.get(cls.name.value, {}).values():
            for node in nodes_in(context, method):
                if isinstance(node, cst.Assign):
                    targets, value = [t.target for t in node.targets], node.value
                elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
                    targets, value = [node.target], None if isinstance(node, cst.AugAssign) else node.value
                else:
                    continue
                for target in targets:
                    attr = self_attribute(target)
                    if attr is not None:
                        found.setdefault(attr, []).append(None if value is None else Located(value, method))
        return found

    assigned = context.fact(("self_attributes", id(cls)), build).get(attr, [])
    return assigned[0] if len(assigned) == 1 else None


def constructor(context: FileContext, expr: cst.BaseExpression, scope: cst.CSTNode,
                cls: cst.ClassDef | None, depth: int = 0) -> Located | None:
    """The call that constructed the object ``expr`` refers to (``nn.CrossEntropyLoss()``,
    ``Net()``), followed through local assignments, ``self.attr`` and ``.to(device)``."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in SELF_RETURNING:
            return constructor(context, func.value, scope, cls, depth + 1)
        return Located(expr, scope)
    if isinstance(expr, cst.Name):
        found = value_at(context, expr, scope)
        if found is None and isinstance(scope, cst.FunctionDef) and expr.value in parameter_names(scope):
            return _passed_constructor(context, scope, expr.value, depth)
        return None if found is None else constructor(context, found.expr, found.scope, cls, depth + 1)
    if (cls is not None and isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name)
            and expr.value.value == "self"):
        found = attribute_value(context, cls, expr.attr.value)
        return None if found is None else constructor(context, found.expr, found.scope, cls, depth + 1)
    return None


def _passed_constructor(context: FileContext, function: cst.FunctionDef, parameter: str,
                        depth: int) -> Located | None:
    """What every same-file caller of a plain function passes for ``parameter``, when all of them
    pass an object built by the same constructor (``train(model, ...)`` with ``model = Net()``)."""
    positions = [p.name.value for p in function.params.params]
    if parameter not in positions or (positions and positions[0] in ("self", "cls")):
        return None
    found: list[Located] = []
    for site in call_sites(context, function):
        argument = get_arg(site, parameter, positions.index(parameter))
        if argument is None or has_unpacking(site):
            return None
        scope = enclosing_function(context, site) or context.module
        built = constructor(context, argument.value, scope, None, depth + 1)
        if built is None:
            return None
        found.append(built)
    if not found or len({context.code(b.expr.func) for b in found if isinstance(b.expr, cst.Call)}) != 1:
        return None
    return found[0]


def uses_in_scope(context: FileContext, scope: cst.CSTNode, name: str) -> int:
    """How many times ``name`` appears as a Name in ``scope`` (bindings included)."""
    return sum(1 for node in nodes_in(context, scope) if isinstance(node, cst.Name) and node.value == name)


def number_value(context: FileContext, expr: cst.BaseExpression, scope: cst.CSTNode) -> float | None:
    """A numeric literal's value, also through names: ``WEIGHT_DECAY = 1e-4`` ... ``WEIGHT_DECAY``."""
    for _ in range(_MAX_DEPTH):
        value = numeric_value(expr)
        if value is not None or not isinstance(expr, cst.Name):
            return value
        found = value_at(context, expr, scope)
        if found is None:
            return None
        expr, scope = found.expr, found.scope
    return None
