"""Argument helpers for calls (after TorchFix's ``get_specific_arg``)."""

from __future__ import annotations

import libcst as cst


def keyword_arg(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def positional_args(call: cst.Call) -> list[cst.Arg]:
    return [arg for arg in call.args if arg.keyword is None and not arg.star]


def get_arg(call: cst.Call, name: str, position: int | None = None) -> cst.Arg | None:
    """The argument bound to parameter ``name`` (given by keyword, or at ``position``)."""
    found = keyword_arg(call, name)
    if found is not None or position is None:
        return found
    positional = positional_args(call)
    return positional[position] if position < len(positional) else None


def has_unpacking(call: cst.Call) -> bool:
    """``*args`` or ``**kwargs`` in the call: any parameter may be bound there."""
    return any(arg.star for arg in call.args)


def numeric_value(node: cst.BaseExpression) -> float | None:
    """The value of a numeric literal (``1e-4``, ``-0.0``, ``5``), else ``None``."""
    sign = 1.0
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        sign = -1.0 if isinstance(node.operator, cst.Minus) else 1.0
        node = node.expression
    node_type = type(node)
    if node_type is cst.Integer or node_type is cst.Float:
        # what ``evaluated_value`` gives (an ``ast.literal_eval``, ten times slower), read directly
        try:
            return sign * float(int(node.value, 0) if node_type is cst.Integer else node.value)  # type: ignore[attr-defined]
        except OverflowError:
            return None
        except ValueError:
            pass  # what only literal_eval reads, or the error it gives
        try:
            return sign * float(node.evaluated_value)  # type: ignore[attr-defined]
        except (ValueError, OverflowError):
            return None
    return None


def append_keyword(call: cst.Call, text: str) -> tuple[cst.CSTNode, str] | None:
    """Where to insert (after which node) and what, to add ``text`` such as ``weights_only=True``
    as the last argument; ``None`` for a call without arguments.  Inserting right after the last
    argument's value keeps a trailing comma and comments where they were."""
    if not call.args:
        return None
    return call.args[-1].value, f", {text}"
