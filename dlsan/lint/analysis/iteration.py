"""Gradient clipping and the order of one training iteration's calls.

A *region* is the code of one iteration: the innermost loop around a node (within its function)
that holds the events a rule needs, or the function itself for per-step functions (Lightning's
``training_step``, a ``train_step(batch)`` helper).  :func:`position` orders nodes within it.
"""

from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.loops import loops_around
from dlsan.lint.analysis.nodes import ancestors_of, nodes_in
from dlsan.lint.catalog.torch_api import CLIP_FUNCTIONS
from dlsan.lint.context import FileContext, node_fact


def is_clip_call(context: FileContext, call: cst.Call) -> bool:
    """``torch.nn.utils.clip_grad_norm_(...)`` / ``clip_grad_value_`` (resolved through imports)."""
    return context.names.matches(call.func, CLIP_FUNCTIONS)


def position(context: FileContext, region: cst.CSTNode, node: cst.CSTNode) -> int:
    """``node``'s source-order position within ``region`` (-1 when outside it)."""
    return _positions(context, region).get(node, -1)


@node_fact
def _positions(context: FileContext, region: cst.CSTNode) -> dict[cst.CSTNode, int]:
    return {n: i for i, n in enumerate(nodes_in(context, region))}


def regions_around(context: FileContext, node: cst.CSTNode) -> list[cst.CSTNode]:
    """The loops around ``node`` in its function, innermost first, then that function."""
    function = next((n for n in ancestors_of(context, node) if isinstance(n, cst.FunctionDef)), None)
    found: list[cst.CSTNode] = list(loops_around(context, node))
    if function is not None:
        found.append(function)
    return found
