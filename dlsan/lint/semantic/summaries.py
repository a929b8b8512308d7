"""Function summaries: what a function or method of the project does with its arguments.

A summary is computed once per function (memoised on the context of the function's own file, so a
project module's summaries are shared by every file that imports it, and are dropped with the
parsed module when its content changes) from its own body, composed through the calls it makes:
functions of its file, ``self`` methods (the class's own or its bases', also bases defined in
other project modules) and functions imported from the project's own modules
(:func:`~dlsan.lint.analysis.functions.callee`).  It says

* :attr:`~FunctionSummary.converts_arguments`: the function keeps its arguments only as plain
  numbers (every read sits inside ``float()``, ``.item()``, ``.detach()``, ``len()``...;
  ``d2l.Accumulator.add``), so ``metric.add(loss)`` keeps no autograd graph alive;
* :attr:`~FunctionSummary.evaluated`: the parameters it switches to eval mode
  (``model.eval()``, or passing the parameter on to a function that does);
* :attr:`~FunctionSummary.runs`: the models it runs before any mode switch of its own: a
  parameter (by position: ``forward_pass(model, batch)`` runs its argument 0) or a ``self``
  attribute (``self._forward_pass(batch)`` runs ``self.model``);
* :attr:`~FunctionSummary.trains`: it calls ``backward()`` or an optimizer's ``step()``;
* :func:`split_parameters` (computed on its own, only the leakage rules ask): the parameters it
  splits into train/test parts (``def split(X, y): return train_test_split(X, y)``).

Mode events and training steps themselves are :mod:`~dlsan.lint.analysis.modes` and
:mod:`~dlsan.lint.analysis.loops` facts, which follow the same callees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from dlsan.lint.context import Fact, FileContext
from dlsan.lint.names import dotted_name
from dlsan.lint.semantic.scopes import BindingKind, Scope
from dlsan.lint.walk import children

if TYPE_CHECKING:
    from dlsan.lint.analysis.functions import Callee

#: calls whose result keeps nothing of a tensor's graph
_CONVERTING_FUNCTIONS = frozenset({"float", "int", "len", "bool", "str", "round"})
_CONVERTING_METHODS = frozenset({"item", "detach", "tolist", "numpy"})


@dataclass(frozen=True)
class ModelRun:
    """A model a function runs: its parameter at ``position``, or the ``self`` attribute read at
    ``node`` (a node of the function's own file)."""

    call: cst.Call
    position: int | None = None
    node: cst.BaseExpression | None = None


@dataclass(frozen=True)
class FunctionSummary:
    #: the function keeps or returns its arguments only converted to plain numbers
    converts_arguments: bool
    #: positions of the parameters the function switches to eval mode
    evaluated: frozenset[int] = frozenset()
    #: the models it runs before switching any mode itself
    runs: tuple[ModelRun, ...] = ()
    #: it calls ``backward()`` or an optimizer's ``step()`` (directly or through calls)
    trains: bool = False


_SUMMARIES: Fact[cst.FunctionDef, FunctionSummary] = Fact("function summaries")
#: the summary of a function asked for while its own summary is computed (recursion)
_IN_PROGRESS = FunctionSummary(converts_arguments=False)


def summary_of(context: FileContext, function: cst.FunctionDef, cls: cst.ClassDef | None = None) -> FunctionSummary:
    """The summary of ``function`` (a function of ``context``'s file, or a method of ``cls``)."""
    return _SUMMARIES.get_guarded(context, function, lambda: _summarise(context, function, cls), _IN_PROGRESS)


def _summarise(context: FileContext, function: cst.FunctionDef, cls: cst.ClassDef | None) -> FunctionSummary:
    from dlsan.lint.analysis.loops import trains

    scope = context.semantic.scope_for(function)
    derived = _derived_names(context, scope)
    positions = [p.name.value for p in function.params.params]
    evaluated, runs = _modes_and_runs(context, scope, positions, cls)
    return FunctionSummary(converts_arguments=bool(derived) and _only_converted(context, scope, derived),
                           evaluated=frozenset(evaluated), runs=tuple(runs), trains=trains(context, function, cls))


def _modes_and_runs(context: FileContext, scope: Scope, positions: list[str],
                    cls: cst.ClassDef | None) -> tuple[set[int], list[ModelRun]]:
    """The parameters switched to eval, and the models run before the first mode switch."""
    from dlsan.lint.analysis.functions import callee
    from dlsan.lint.analysis.models import model_name, run_receiver
    from dlsan.lint.analysis.modes import mode_of_call

    evaluated: set[int] = set()
    runs: list[ModelRun] = []
    switched = False
    for call in scope.calls:
        mode = mode_of_call(call)
        if mode is not None:
            switched = True
            owner = dotted_name(call.func.value) if isinstance(call.func, cst.Attribute) else None
            if mode == "eval" and owner in positions:
                evaluated.add(positions.index(owner))
            continue
        target = callee(context, call, cls)
        if target is not None:
            inner = summary_of(target.context, target.function, target.within(context, cls))
            evaluated |= _passed_on(call, target.function, inner.evaluated, positions)
            if inner.evaluated:
                switched = True
            if not switched:
                runs.extend(_runs_through(context, call, target, inner, positions))
            continue
        if switched:
            continue
        model = model_name(context, call)
        if model is None:
            continue
        root = model.split(".", 1)[0]
        if root in positions and "." not in model:
            runs.append(ModelRun(call, position=positions.index(root)))
        elif root == "self" and model.count(".") == 1 and cls is not None:
            runs.append(ModelRun(call, node=run_receiver(call)))
    return evaluated, runs


def argument_for(call: cst.Call, function: cst.FunctionDef, position: int) -> cst.BaseExpression | None:
    """What ``call`` passes for ``function``'s parameter at ``position`` (``self`` counts as
    position 0 of a method called as ``obj.method(...)``)."""
    from dlsan.lint.calls import get_arg

    names = [p.name.value for p in function.params.params]
    offset = 1 if names and names[0] in ("self", "cls") and isinstance(call.func, cst.Attribute) else 0
    if position >= len(names) or position < offset:
        return None
    argument = get_arg(call, names[position], position - offset)
    return argument.value if argument is not None else None


def _passed_on(call: cst.Call, function: cst.FunctionDef, positions_in_callee: frozenset[int],
               positions: list[str]) -> set[int]:
    """Our parameters that ``call`` passes at the callee's ``positions_in_callee``."""
    found = set()
    for position in positions_in_callee:
        argument = argument_for(call, function, position)
        if isinstance(argument, cst.Name) and argument.value in positions:
            found.add(positions.index(argument.value))
    return found


def _runs_through(context: FileContext, call: cst.Call, target: Callee, inner: FunctionSummary,
                  positions: list[str]) -> list[ModelRun]:
    """The runs of a callee seen from ``call``: a run of the callee's parameter is a run of what
    we pass for it when that is one of our parameters; a run of ``self.x`` stays one in our class."""
    found: list[ModelRun] = []
    for run in inner.runs:
        if run.position is not None:
            found.extend(ModelRun(call, position=p) for p in _passed_on(call, target.function, frozenset({run.position}),
                                                                        positions))
        elif target.context is context:
            found.append(ModelRun(call, node=run.node))
    return found


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


def split_parameters(context: FileContext, function: cst.FunctionDef, cls: cst.ClassDef | None = None) -> frozenset[int]:
    """Positions of the parameters ``function`` splits into train/test parts, itself or through
    the functions it calls (see :func:`~dlsan.lint.analysis.leakage.split_sinks`)."""
    from dlsan.lint.analysis.leakage import split_sinks
    from dlsan.lint.semantic.model import root_names_read

    def compute() -> frozenset[int]:
        positions = [p.name.value for p in function.params.params]
        split = {name for sink in split_sinks(context, context.semantic.scope_for(function), cls)
                 for data in sink.data for name in root_names_read(data)}
        return frozenset(i for i, name in enumerate(positions) if name in split)

    return _SPLIT_PARAMETERS.get_guarded(context, function, compute, frozenset())


_SPLIT_PARAMETERS: Fact[cst.FunctionDef, frozenset[int]] = Fact("split parameters")
