"""Is gradient tracking off here?  Is this an evaluation context?

Gradients are off inside ``with torch.no_grad():``, ``torch.inference_mode()``,
``torch.set_grad_enabled(False)``, and in functions decorated with ``@torch.no_grad()`` /
``@torch.inference_mode()`` (with or without the parentheses).  An evaluation context is such code,
or a function whose name says it evaluates (``evaluate``, ``validate``, ``val_epoch``, ``test``,
``predict``, ``inference``...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst

from dlsan.lint.calls import get_arg
from dlsan.lint.catalog.torch_api import NO_GRAD, SET_GRAD_ENABLED
from dlsan.lint.context import FileContext

EVAL_FUNCTION_NAME = re.compile(
    r"(^|_)(eval|evaluate|evaluation|validate|validation|val|valid|test|testing|predict|prediction|"
    r"inference|infer)(_|$)",
    re.IGNORECASE,
)


def disables_grad(context: FileContext, expr: cst.BaseExpression) -> bool:
    """Whether a with-item or decorator expression turns gradient tracking off."""
    names = context.names
    if isinstance(expr, cst.Call):
        if names.matches(expr.func, NO_GRAD):
            mode = get_arg(expr, "mode", 0)
            return mode is None or not (isinstance(mode.value, cst.Name) and mode.value.value == "False")
        if names.matches(expr.func, SET_GRAD_ENABLED):
            mode = get_arg(expr, "mode", 0)
            return mode is not None and isinstance(mode.value, cst.Name) and mode.value.value == "False"
        return False
    return names.matches(expr, NO_GRAD)


def function_disables_grad(context: FileContext, function: cst.FunctionDef) -> bool:
    return any(disables_grad(context, decorator.decorator) for decorator in function.decorators)


def grad_disabled(context: FileContext, ancestors: Sequence[cst.CSTNode] | None = None) -> bool:
    """Whether code with these ``ancestors`` (outermost first; default: the walk's current ones)
    runs with gradients off.  Looks outwards up to the enclosing function, whose decorators count;
    a caller's context is unknown and does not."""
    chain = context.ancestors if ancestors is None else ancestors
    for node in reversed(chain):
        node_type = type(node)  # exact types (every ancestor): libcst's classes are slow-to-ask ABCs
        if node_type is cst.With and any(disables_grad(context, item.item) for item in node.items):  # type: ignore[attr-defined]
            return True
        if node_type is cst.FunctionDef:
            return function_disables_grad(context, node)  # type: ignore[arg-type]
        if node_type is cst.Lambda or node_type is cst.ClassDef:
            return False
    return False


def is_eval_function_name(name: str) -> bool:
    return bool(EVAL_FUNCTION_NAME.search(name))


def in_evaluation_context(context: FileContext, ancestors: Sequence[cst.CSTNode] | None = None) -> bool:
    """Gradients off, or inside a function named like an evaluation."""
    chain = context.ancestors if ancestors is None else ancestors
    if grad_disabled(context, chain):
        return True
    function = next((n for n in reversed(chain) if isinstance(n, cst.FunctionDef)), None)
    return function is not None and is_eval_function_name(function.name.value)
