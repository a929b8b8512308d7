"""Loops (and functions) that train: they call ``backward()`` or an optimizer's ``step()``.

"Trains" looks through calls (:func:`~dlsan.lint.analysis.functions.callee`: the file's functions
and methods, base classes' methods, functions imported from the project's own modules), so the
loop of

    for batch in loader:
        loss = train_step(model, batch)     # train_step calls loss.backward() and opt.step()

counts as a training loop.  Method names decide, since types are unknown: ``x.backward()``,
``manual_backward`` (Lightning), ``accelerator.backward(loss)``; ``step()`` on a receiver named
like an optimizer or a loss scaler (``optimizer``, ``opt_g``, ``self.optim``, ``scaler``), never
on a scheduler.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import cast

import libcst as cst

from dlsan.lint.analysis.functions import callee
from dlsan.lint.analysis.models import is_backward_call
from dlsan.lint.analysis.nodes import ancestors_of, calls_in, method_name, receiver
from dlsan.lint.context import Fact, FileContext
from dlsan.lint.names import dotted_name

_OPTIMIZER_NAME = re.compile(r"opt|scaler", re.IGNORECASE)
#: a receiver named like an LR scheduler (``scheduler``, ``lr_sched``): its ``step()`` is no optimizer step
SCHEDULER_NAME = re.compile(r"sched|lr_", re.IGNORECASE)

Loop = (cst.For, cst.While)
_SCOPE_BOUNDARIES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
_SCOPE_BOUNDARY_TYPES = frozenset(_SCOPE_BOUNDARIES)


def is_optimizer_step(call: cst.Call) -> bool:
    """``optimizer.step()``, ``self.opt_d.step()``, ``scaler.step(optimizer)``."""
    if method_name(call) != "step":
        return False
    name = dotted_name(receiver(call))
    if name is None:
        return False
    last = name.rsplit(".", 1)[-1]
    return bool(_OPTIMIZER_NAME.search(last)) and not SCHEDULER_NAME.search(last)


def trains(context: FileContext, node: cst.CSTNode, within: cst.ClassDef | None = None) -> bool:
    """Whether running ``node`` calls backward or an optimizer step, following same-file calls."""
    return _trains(context, node, within, frozenset())


def _trains(context: FileContext, node: cst.CSTNode, within: cst.ClassDef | None, seen: frozenset[int]) -> bool:
    def compute() -> bool:
        for call in calls_in(context, node):
            if is_backward_call(context, call) or is_optimizer_step(call):
                return True
            target = callee(context, call, within)
            if target is not None and id(target.function) not in seen and _trains(
                    target.context, target.function, target.within(context, within), seen | {id(node)}):
                return True
        return False

    return _TRAINS.get(context, node, compute)


_TRAINS: Fact[cst.CSTNode, bool] = Fact("trains")


def enclosing_loops(context: FileContext) -> list[cst.For | cst.While]:
    """Loops enclosing the node being visited, innermost first, within the current function."""
    return _loops_within_function(reversed(context.ancestors))


def loops_around(context: FileContext, node: cst.CSTNode) -> list[cst.For | cst.While]:
    """Loops enclosing ``node`` within its own function, innermost first (outside the walk)."""
    return _loops_within_function(ancestors_of(context, node))


def _loops_within_function(ancestors: Iterable[cst.CSTNode]) -> list[cst.For | cst.While]:
    found: list[cst.For | cst.While] = []
    for node in ancestors:  # exact types: libcst's classes are slow-to-ask ABCs
        node_type = type(node)
        if node_type in _SCOPE_BOUNDARY_TYPES:
            break
        if node_type is cst.For or node_type is cst.While:
            found.append(cast("cst.For | cst.While", node))
    return found


def enclosing_training_loop(context: FileContext) -> cst.For | cst.While | None:
    """The innermost enclosing loop (in the current function) that trains."""
    within = context.enclosing(cst.ClassDef)
    for loop in enclosing_loops(context):
        if trains(context, loop, within):
            return loop
    return None
