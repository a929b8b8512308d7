"""Which call built an object, which value ``self.<attr>`` holds, numbers through names: answers on
the semantic model's bindings, where any doubt gives ``None``.

An object's constructor is followed through plain assignments (:meth:`SemanticModel.value_at`),
``self.attr = ...`` set once in the class, calls like ``.to(device)`` / ``.cuda()`` that return
the object itself, and into a function's parameter when every same-file caller passes an object of
the same constructor.
"""

from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.callers import call_sites
from dlsan.lint.analysis.functions import file_index
from dlsan.lint.calls import get_arg, has_unpacking, numeric_value
from dlsan.lint.catalog.torch_api import SELF_RETURNING
from dlsan.lint.context import Fact, FileContext
from dlsan.lint.names import dotted_name
from dlsan.lint.semantic.model import Located
from dlsan.lint.semantic.scopes import BindingKind

_MAX_DEPTH = 8


def self_attribute(expr: cst.BaseExpression | None) -> str | None:
    """``"x"`` for ``self.x``; ``None`` for anything else."""
    name = dotted_name(expr) if expr is not None else None
    if name is None or not name.startswith("self.") or name.count(".") != 1:
        return None
    return name[5:]


def attribute_value(context: FileContext, cls: cst.ClassDef, attr: str) -> Located | None:
    """The value of ``self.<attr>`` when the class's methods assign it exactly once (plainly)."""
    semantic = context.semantic
    found = [binding for method in file_index(context).methods.get(cls.name.value, {}).values()
             for binding in semantic.scope_for(method).bindings_of(f"self.{attr}")]
    if len(found) != 1 or not found[0].is_plain:
        return None
    return Located(found[0].value, semantic.scope_of(found[0].node))  # type: ignore[arg-type]


def constructor(context: FileContext, expr: cst.BaseExpression, cls: cst.ClassDef | None,
                depth: int = 0) -> Located | None:
    """The call that constructed the object ``expr`` refers to (``nn.CrossEntropyLoss()``,
    ``Net()``), followed through assignments, ``self.attr`` and ``.to(device)``."""
    if depth == 0:  # several rules ask of each call's function: answered once per file
        return _CONSTRUCTOR.get(context, (expr, cls), lambda: _constructor(context, expr, cls, 0))
    return _constructor(context, expr, cls, depth)


def _constructor(context: FileContext, expr: cst.BaseExpression, cls: cst.ClassDef | None,
                 depth: int) -> Located | None:
    if depth > _MAX_DEPTH:
        return None
    semantic = context.semantic
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in SELF_RETURNING:
            return constructor(context, func.value, cls, depth + 1)
        return Located(expr, semantic.scope_of(expr))
    if isinstance(expr, cst.Name):
        found = semantic.value_at(expr)
        if found is None:
            return _passed_constructor(context, expr, depth)
        return constructor(context, found.expr, cls, depth + 1)
    if cls is not None and self_attribute(expr) is not None:
        assigned = attribute_value(context, cls, self_attribute(expr))  # type: ignore[arg-type]
        return None if assigned is None else constructor(context, assigned.expr, cls, depth + 1)
    return None


_CONSTRUCTOR: Fact[tuple[cst.BaseExpression, cst.ClassDef | None], Located | None] = Fact("constructor")


def _passed_constructor(context: FileContext, name: cst.Name, depth: int) -> Located | None:
    """What every same-file caller of a plain function passes for the parameter ``name``, when
    all of them pass an object built by the same constructor (``train(model)``, ``model = Net()``)."""
    reaching = context.semantic.reaching(name.value, name)
    if len(reaching) != 1 or reaching[0].kind is not BindingKind.PARAMETER:
        return None
    function = context.semantic.enclosing(reaching[0].node, cst.FunctionDef)
    if not isinstance(function, cst.FunctionDef):
        return None
    positions = [p.name.value for p in function.params.params]
    if name.value not in positions or (positions and positions[0] in ("self", "cls")):
        return None
    found: list[Located] = []
    for site in call_sites(context, function):
        argument = get_arg(site, name.value, positions.index(name.value))
        if argument is None or has_unpacking(site):
            return None
        built = constructor(context, argument.value, None, depth + 1)
        if built is None:
            return None
        found.append(built)
    if not found or len({context.code(b.expr.func) for b in found if isinstance(b.expr, cst.Call)}) != 1:
        return None
    return found[0]


def number_value(context: FileContext, expr: cst.BaseExpression) -> float | None:
    """A numeric literal's value, also through names: ``WEIGHT_DECAY = 1e-4`` ... ``WEIGHT_DECAY``."""
    for _ in range(_MAX_DEPTH):
        value = numeric_value(expr)
        if value is not None or not isinstance(expr, cst.Name):
            return value
        found = context.semantic.value_at(expr)
        if found is None:
            return None
        expr = found.expr
    return None


def narrowed_class(context: FileContext, expr: cst.BaseExpression) -> str | None:
    """The qualified class an enclosing ``if isinstance(expr, C):`` narrows ``expr`` to, where
    ``expr`` is read in that branch's body (timm's ``if isinstance(scheduler, PlateauLRScheduler):``)."""
    name = dotted_name(expr)
    if name is None:
        return None
    inner: cst.CSTNode = expr
    for ancestor in context.semantic.ancestors(expr):
        if isinstance(ancestor, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
            return None
        if isinstance(ancestor, cst.If) and inner is ancestor.body:
            test = ancestor.test
            if (isinstance(test, cst.Call) and dotted_name(test.func) == "isinstance" and len(test.args) == 2
                    and dotted_name(test.args[0].value) == name):
                return context.names.resolve(test.args[1].value)
        inner = ancestor
    return None
