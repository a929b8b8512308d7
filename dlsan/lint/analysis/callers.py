"""Who calls a same-file function, and from which function and class.

Built once per file on first use (one pass over the module's calls, each resolved with
:func:`~dlsan.lint.analysis.functions.called_function`), so rules that reason about a per-step
function (``def train_step(...)`` called from an epoch loop) can look at its call sites.
"""

from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.functions import called_function
from dlsan.lint.analysis.nodes import calls_in
from dlsan.lint.context import FileContext, file_fact
from dlsan.lint.names import is_self_member


def call_sites(context: FileContext, function: cst.FunctionDef) -> list[cst.Call]:
    """Every call in the file that runs ``function`` (``f(...)``, or ``self.f(...)`` in its class)."""
    return _call_sites(context).get(function, [])


@file_fact
def _call_sites(context: FileContext) -> dict[cst.FunctionDef, list[cst.Call]]:
    sites: dict[cst.FunctionDef, list[cst.Call]] = {}
    for call in calls_in(context, context.module):
        # only ``f(...)`` and ``self.f(...)`` run a function of the file, and the class around the
        # call is looked up for those alone (exact type: asked of every call of the file)
        if type(call.func) is not cst.Name and not is_self_member(call.func):
            continue
        target = called_function(context, call, enclosing_class_of(context, call))
        if target is not None:
            sites.setdefault(target, []).append(call)
    return sites


def enclosing_function(context: FileContext, node: cst.CSTNode) -> cst.FunctionDef | None:
    return next((n for n in context.semantic.ancestors(node) if type(n) is cst.FunctionDef), None)


def enclosing_class_of(context: FileContext, node: cst.CSTNode) -> cst.ClassDef | None:
    # exact types (asked for every call of the file): libcst's classes are slow-to-ask ABCs; the
    # ancestors are walked up lazily, not listed first
    return next((n for n in context.semantic.ancestors(node) if type(n) is cst.ClassDef), None)
