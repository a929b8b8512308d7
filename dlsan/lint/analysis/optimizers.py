"""The order of gradient events within a training iteration, per optimizer object.

A training iteration (a loop body, or a per-step function) is reduced to a source-ordered list of
:class:`GradEvent`:

* ``backward``  - ``loss.backward()``, ``scaler.scale(loss).backward()``, ``accelerator.backward``,
  ``self.manual_backward(loss)``;
* ``clear``     - ``opt.zero_grad()`` (of that optimizer), ``model.zero_grad()`` /
  ``zero_grad(set_to_none=True)`` on anything not named like an optimizer, ``p.grad = None`` (or any
  assignment to ``.grad``), ``p.grad.zero_()`` / ``.detach_()`` (all of these: of every optimizer);
* ``step``      - ``opt.step()``, ``scaler.step(opt)`` (of ``opt``);
* ``scheduler`` - ``scheduler.step()`` as a statement of its own (a diffusion sampler's
  ``scheduler.step(noise, t, x).prev_sample`` is not an LR scheduler).

Optimizers are told apart by the dotted name of the receiver (``opt_d``, ``self.opt_g``).  Calls to
functions of the same file are followed (their events are attributed to the call site), so
``train_step(...)`` called in a loop counts as what it does.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

import libcst as cst

from dlsan.lint.analysis.functions import called_function
from dlsan.lint.analysis.loops import (
    SCHEDULER_NAME,
    enclosing_loops,
    is_optimizer_step,
)
from dlsan.lint.analysis.models import BACKWARD_METHODS, is_backward_call
from dlsan.lint.analysis.nodes import method_name, nodes_in, positions_by_type, receiver
from dlsan.lint.catalog import Framework
from dlsan.lint.catalog.torch_api import SCHEDULER_PREFIX
from dlsan.lint.context import Fact, FileContext, file_fact
from dlsan.lint.names import dotted_name
from dlsan.lint.semantic.objects import narrowed_class
from dlsan.lint.semantic.values import Kind, may_use_torch, value_of

EventKind = Literal["backward", "clear", "step", "scheduler"]

OPTIMIZER_NAME = re.compile(r"opt", re.IGNORECASE)
_SCALER_NAME = re.compile(r"scaler", re.IGNORECASE)
_GRAD_RESETS = frozenset({"zero_", "detach_", "fill_"})
_MAX_CALL_DEPTH = 3


@dataclass(frozen=True)
class GradEvent:
    kind: EventKind
    #: where it happens in the analysed scope (the call site, for events of a followed call)
    node: cst.CSTNode
    #: the optimizer's dotted name for ``step`` and ``zero_grad`` of an optimizer; ``None`` for
    #: clears that reach every optimizer and for ``backward``/``scheduler``
    optimizer: str | None = None
    #: whether a ``zero_grad()`` call made this clear (rather than a ``.grad`` assignment)
    by_zero_grad: bool = False
    #: whether the event comes from a followed call or a nested function, not the scope itself
    followed: bool = False


def _last_part(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def stepped_optimizer(call: cst.Call) -> str | None:
    """``opt`` for ``opt.step()`` and ``scaler.step(opt)``; ``None`` when not an optimizer step."""
    if not is_optimizer_step(call):
        return None
    name = dotted_name(receiver(call))
    if name is not None and _SCALER_NAME.search(_last_part(name)):
        return dotted_name(call.args[0].value) if call.args else None
    return name


def stepped_optimizer_expr(call: cst.Call) -> cst.BaseExpression | None:
    """The optimizer expression ``call`` steps: ``opt`` in ``opt.step()`` and ``scaler.step(opt)``."""
    owner = receiver(call)
    name = dotted_name(owner)
    if name is not None and _SCALER_NAME.search(_last_part(name)):
        return call.args[0].value if call.args else None
    return owner


def steps_a_torch_optimizer(context: FileContext, call: cst.Call) -> bool:
    """Whether the optimizer ``call`` steps may be a plain torch optimizer: not one of another
    framework (a Gluon ``Trainer``), not a ``DistributedOptimizer`` (gradients live per
    ``dist_autograd`` context), not in a file that does not use torch."""
    expr = stepped_optimizer_expr(call)
    return expr is not None and may_be_torch(context, expr, Kind.OPTIMIZER)


def steps_a_torch_scheduler(context: FileContext, call: cst.Call) -> bool:
    """Whether the scheduler ``call`` steps (``scheduler.step()``) may be a torch LR scheduler."""
    owner = receiver(call)
    if owner is None:
        return False
    narrowed = narrowed_class(context, owner)
    if narrowed is not None and not narrowed.startswith(SCHEDULER_PREFIX):
        return False  # ``if isinstance(scheduler, PlateauLRScheduler):`` (timm's own kind)
    return may_be_torch(context, owner, Kind.SCHEDULER)


def may_be_torch(context: FileContext, expr: cst.BaseExpression, kind: Kind) -> bool:
    """Per-receiver framework gating: whether ``expr`` may hold a torch object of ``kind``: the
    semantic model knows it does, or knows nothing of it in a file that may use torch.  Never an
    object of another framework (a Gluon ``Trainer``), of another kind, or a ``DistributedOptimizer``."""
    value = value_of(context, expr)
    if value.distributed or value.framework not in (None, Framework.TORCH):
        return False
    if value.kind not in (kind, Kind.UNKNOWN):
        return False
    return value.kind is kind or may_use_torch(context)


def optimized_modules(context: FileContext, optimizer: str, at: cst.CSTNode) -> frozenset[str] | None:
    """The modules whose parameters the optimizer named ``optimizer`` (read at ``at``) updates:
    ``Adam(self.D.parameters())`` gives ``self.D``; ``Adam(chain(G.parameters(), D.parameters()))``
    gives both; ``None`` when the constructor or its parameters are not that plain."""
    from dlsan.lint.semantic.objects import constructor

    expr = cst.parse_expression(optimizer)
    if isinstance(expr, cst.Name):
        built = constructor(context, _read_at(context, optimizer, at) or expr, None)
    else:
        owner = context.semantic.enclosing(at, cst.ClassDef)
        attr = expr.attr.value if isinstance(expr, cst.Attribute) and dotted_name(expr.value) == "self" else None
        built = None
        if attr is not None and isinstance(owner, cst.ClassDef):
            from dlsan.lint.semantic.objects import attribute_value

            assigned = attribute_value(context, owner, attr)
            built = constructor(context, assigned.expr, owner) if assigned is not None else None
    if built is None or not isinstance(built.expr, cst.Call) or not built.expr.args:
        return None
    return _parameter_owners(built.expr.args[0].value)


def _read_at(context: FileContext, name: str, at: cst.CSTNode) -> cst.Name | None:
    """The Name node reading ``name`` nearest before ``at`` in its frame (for the model's lookups)."""
    reads = context.semantic.frame_of(at).reads.get(name, [])
    frame = context.semantic.frame_of(at)
    before = [r for r in reads if isinstance(r, cst.Name) and frame.position(r) <= frame.position(at)]
    return before[-1] if before else None


def _parameter_owners(expr: cst.BaseExpression) -> frozenset[str] | None:
    """``m.parameters()`` -> {m}; ``chain(a.parameters(), b.parameters())`` / ``list(a...) + list(b...)``."""
    if isinstance(expr, cst.Call):
        if method_name(expr) == "parameters":
            owner = dotted_name(receiver(expr))
            return frozenset({owner}) if owner is not None else None
        callee = dotted_name(expr.func) or ""
        if callee.rsplit(".", 1)[-1] in ("chain", "list") and expr.args:
            parts = [_parameter_owners(arg.value) for arg in expr.args]
            if any(p is None for p in parts):
                return None
            return frozenset().union(*(p for p in parts if p is not None))
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        left, right = _parameter_owners(expr.left), _parameter_owners(expr.right)
        return None if left is None or right is None else left | right
    return None


def is_scheduler_step(call: cst.Call) -> bool:
    """``scheduler.step()`` / ``lr_scheduler.step(val_loss)`` on a receiver named like a scheduler."""
    if method_name(call) != "step":
        return False
    name = dotted_name(receiver(call))
    return name is not None and bool(SCHEDULER_NAME.search(_last_part(name)))


def _zero_grad_event(call: cst.Call) -> GradEvent:
    name = dotted_name(receiver(call))
    optimizer = name if name is not None and OPTIMIZER_NAME.search(_last_part(name)) else None
    return GradEvent("clear", call, optimizer, by_zero_grad=True)


def _resets_grad(call: cst.Call) -> bool:
    """``p.grad.zero_()``, ``p.grad.data.zero_()``, ``p.grad.detach_()``."""
    if method_name(call) not in _GRAD_RESETS:
        return False
    name = dotted_name(receiver(call)) or ""
    return ".grad" in f".{name}" and name.split(".")[-1] in ("grad", "data")


def _assigns_grad(node: cst.CSTNode) -> bool:
    # exact types (asked for every node of a loop): libcst's classes are slow-to-ask ABCs
    if type(node) is cst.Assign:
        return any(isinstance(t.target, cst.Attribute) and t.target.attr.value == "grad"
                   for t in node.targets)
    if type(node) is cst.AnnAssign:
        return isinstance(node.target, cst.Attribute) and node.target.attr.value == "grad"
    return False


def grad_events(context: FileContext, scope: cst.CSTNode, within: cst.ClassDef | None = None) -> list[GradEvent]:
    """The gradient events of ``scope`` in source order, following same-file calls."""
    return _events(context, scope, within, frozenset(), 0)


def _events(context: FileContext, scope: cst.CSTNode, within: cst.ClassDef | None,
            seen: frozenset[int], depth: int) -> list[GradEvent]:
    def compute() -> list[GradEvent]:
        found: list[GradEvent] = []
        for node, inner, is_statement in _event_sites(context, scope):
            if type(node) is not cst.Call:
                found.append(GradEvent("clear", node, followed=inner))
                continue
            event = _call_event(context, node, is_statement)
            if event is not None:
                # a new event is not followed: copied only when it is (replace() is slow)
                found.append(replace(event, followed=True) if inner else event)
                continue
            target = called_function(context, node, within)
            if target is not None and id(target) not in seen and depth < _MAX_CALL_DEPTH:
                for sub in _events(context, target, within, seen | {id(scope)}, depth + 1):
                    found.append(GradEvent(sub.kind, node, sub.optimizer, sub.by_zero_grad, followed=True))
        return found

    return _GRAD_EVENTS.get(context, (scope, within, depth), compute)


_GRAD_EVENTS: Fact[tuple[cst.CSTNode, cst.ClassDef | None, int], list[GradEvent]] = Fact("grad events")


def iteration_events(context: FileContext, kind: EventKind) -> list[GradEvent] | None:
    """The gradient events of the training iteration around the node being visited: the innermost
    enclosing loop (within its function) that has an event of ``kind``; ``None`` when none has."""
    within = context.enclosing(cst.ClassDef)
    for loop in enclosing_loops(context):
        events = grad_events(context, loop, within)
        if any(event.kind == kind for event in events):
            return events
    return None


def _call_event(context: FileContext, call: cst.Call, is_statement: bool) -> GradEvent | None:
    # each test below asks for a method of its own name first: ask for the name once (this is
    # asked of every call of every loop)
    method = method_name(call)
    if method is None:
        return None
    if method in BACKWARD_METHODS:
        return GradEvent("backward", call) if is_backward_call(context, call) else None
    if method == "zero_grad":
        return _zero_grad_event(call)
    if method in _GRAD_RESETS and _resets_grad(call):
        return GradEvent("clear", call)
    if method != "step":
        return None
    optimizer = stepped_optimizer(call)
    if optimizer is not None:
        return GradEvent("step", call, optimizer)
    if is_statement and is_scheduler_step(call):
        return GradEvent("scheduler", call)
    return None


def _event_sites(context: FileContext, scope: cst.CSTNode) -> Iterator[tuple[cst.CSTNode, bool, bool]]:
    """The nodes below ``scope`` that may make a gradient event (its calls and ``.grad``
    assignments) in source order, each with whether it sits in a function nested in ``scope``
    and, for a call, whether it is a statement of its own.

    Read from the file's lists of such nodes (:func:`_file_sites`): a loop's events are asked
    for, then its function's, then those of every function it calls, and each of them walked
    every node of its subtree."""
    nodes = context.preorder.nodes
    span = context.preorder.span(scope)
    if span is None:  # a node made by a rule, not the file's
        yield from _walked_sites(context, scope)
        return
    start, end = span
    sites, functions = _file_sites(context)
    first = bisect_right(functions, (start, end))
    # the outermost functions nested in ``scope``: their ranges hold every nested node
    nested: list[tuple[int, int]] = []
    for function in functions[first:bisect_left(functions, (end, end), first)]:
        if not nested or function[0] >= nested[-1][1]:
            nested.append(function)
    index = 0
    for at in sites[bisect_right(sites, start):bisect_left(sites, end)]:
        while index < len(nested) and nested[index][1] <= at:
            index += 1
        node = nodes[at]
        inner = index < len(nested) and nested[index][0] < at
        before = nodes[at - 1]
        yield node, inner, type(before) is cst.Expr and at - 1 > start and before.value is node


@file_fact
def _file_sites(context: FileContext) -> tuple[list[int], list[tuple[int, int]]]:
    """The positions in the file's pre-order list of its calls and ``.grad`` assignments, and the
    ranges there of its functions and lambdas (in order)."""
    preorder = context.preorder
    nodes = preorder.nodes
    by_type = positions_by_type(context)
    grads = [at for kind in (cst.Assign, cst.AnnAssign) for at in by_type.get(kind, ()) if _assigns_grad(nodes[at])]
    sites = sorted([*by_type.get(cst.Call, ()), *grads]) if grads else by_type.get(cst.Call, [])
    spans = (preorder.span(nodes[at]) for kind in (cst.FunctionDef, cst.Lambda) for at in by_type.get(kind, ()))
    functions = sorted(span for span in spans if span is not None)  # each node of the list has one
    return sites, functions


def _walked_sites(context: FileContext, scope: cst.CSTNode) -> Iterator[tuple[cst.CSTNode, bool, bool]]:
    """:func:`_event_sites` of a subtree that is not the file's, walked."""
    nodes = nodes_in(context, scope)
    statement_calls = {id(n.value) for n in nodes if type(n) is cst.Expr}
    inside: set[int] = set()
    for node in nodes:
        if (type(node) is cst.FunctionDef or type(node) is cst.Lambda) and id(node) not in inside:
            inside |= {id(n) for n in nodes_in(context, node)}
    for node in nodes:
        if type(node) is cst.Call or _assigns_grad(node):
            yield node, id(node) in inside, id(node) in statement_calls


def stepped_optimizers(events: list[GradEvent]) -> set[str]:
    return {e.optimizer for e in events if e.kind == "step" and e.optimizer is not None}


def clears(event: GradEvent, optimizer: str, stepped: set[str]) -> bool:
    """Whether ``event`` clears ``optimizer``'s gradients.

    A ``zero_grad()`` of a name that never steps here (a loop variable over optimizers, an alias
    such as ``self.optimizer`` for ``optimizer``) may be any optimizer: it counts as clearing all.
    """
    if event.kind != "clear":
        return False
    return event.optimizer is None or event.optimizer == optimizer or event.optimizer not in stepped


def has_backward(events: list[GradEvent]) -> bool:
    return any(e.kind == "backward" for e in events)
