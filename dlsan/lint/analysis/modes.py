"""Train/eval mode tracking: where code switches a model to ``eval()`` or back to ``train()``.

A scope's *mode events*, in source order, are

* ``eval``: ``m.eval()``, ``m.train(False)``, ``m.train(mode=False)``;
* ``train``: ``m.train()``, ``m.train(True)``;
* ``unknown``: ``m.train(flag)`` with a flag only known at run time (the usual way to *restore* a
  saved mode), which each rule reads in its quiet direction;
* ``step``: a training step (``backward()`` or an optimizer's ``step()``).

Calls are followed (:func:`~dlsan.lint.analysis.functions.callee`: functions and ``self``
methods of the file, methods of base classes and functions of the project's own modules): ``validate(model)`` whose
body calls ``model.eval()`` yields that ``eval`` event, with ``origin`` the call in the scanned
scope.  Events met through such a call carry no receiver (parameter names differ from argument
names), and rules treat a receiver-less event as applying to any model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import libcst as cst

from dlsan.lint.analysis.functions import callee
from dlsan.lint.analysis.loops import is_optimizer_step
from dlsan.lint.analysis.models import is_backward_call
from dlsan.lint.analysis.nodes import method_name, receiver
from dlsan.lint.catalog import Framework
from dlsan.lint.context import Fact, FileContext
from dlsan.lint.names import dotted_name
from dlsan.lint.semantic.values import Kind, may_use_torch, value_of

Mode = Literal["eval", "train", "unknown"]
EventKind = Literal["eval", "train", "unknown", "step"]

_NOT_A_MODEL_RECEIVER = ("trainer", "Trainer")


@dataclass(frozen=True)
class ModeEvent:
    kind: EventKind
    #: the model's dotted name (``"model"``, ``"self.net"``); ``None`` when unknown
    receiver: str | None
    #: the call of the scanned scope that caused this event (itself, or a same-file call)
    origin: cst.Call

    def applies_to(self, model: str) -> bool:
        """Whether this event may concern ``model`` (prefixes match: ``model.module``)."""
        if self.receiver is None:
            return True
        return (self.receiver == model or model.startswith(self.receiver + ".")
                or self.receiver.startswith(model + "."))


def mode_of_call(call: cst.Call) -> Mode | None:
    """The mode ``call`` switches to, if it is ``.eval()`` / ``.train(...)``."""
    method = method_name(call)
    if method == "eval":
        return "eval" if not call.args else None
    if method != "train":
        return None
    name = dotted_name(receiver(call))
    if name is not None and name.rsplit(".", 1)[-1].endswith(_NOT_A_MODEL_RECEIVER):
        return None
    if not call.args:
        return "train"
    (arg, *rest) = call.args
    if rest or arg.star or (arg.keyword is not None and arg.keyword.value != "mode"):
        return None
    value = arg.value
    if isinstance(value, cst.Name) and value.value in ("True", "False"):
        return "train" if value.value == "True" else "eval"
    return "unknown"


def scope_events(context: FileContext, scope: cst.CSTNode, within: cst.ClassDef | None = None) -> list[ModeEvent]:
    """Mode events of the calls in ``scope`` (a function, the module, or a loop of a scope)."""
    return _events(context, scope, within, frozenset())


def _events(context: FileContext, node: cst.CSTNode, within: cst.ClassDef | None, seen: frozenset[int]) -> list[ModeEvent]:
    def compute() -> list[ModeEvent]:
        events: list[ModeEvent] = []
        for call in _calls(context, node):
            events.extend(_call_events(context, call, within, seen | {id(node)}))
        return events

    return _MODE_EVENTS.get(context, (node, within), compute)


_MODE_EVENTS: Fact[tuple[cst.CSTNode, cst.ClassDef | None], list[ModeEvent]] = Fact("mode events")


def _calls(context: FileContext, node: cst.CSTNode) -> list[cst.Call]:
    if isinstance(node, (cst.FunctionDef, cst.Module)):
        return context.semantic.scope_for(node).calls
    return context.semantic.frame_of(node).calls_within(node)


def _call_events(context: FileContext, call: cst.Call, within: cst.ClassDef | None,
                 seen: frozenset[int]) -> list[ModeEvent]:
    mode = mode_of_call(call)
    if mode is not None:
        return [ModeEvent(mode, dotted_name(receiver(call)), call)]
    if is_backward_call(context, call) or is_optimizer_step(call):
        return [ModeEvent("step", None, call)]
    target = callee(context, call, within)
    if target is None or id(target.function) in seen:
        return []
    return [ModeEvent(event.kind, None, call)
            for event in _events(target.context, target.function, target.within(context, within), seen)]


def last_mode_before(events: list[ModeEvent], flow_position: dict[int, int], at: int,
                     model: str | None) -> ModeEvent | None:
    """The last eval/train/unknown event for ``model`` (``None``: any model) whose origin comes
    before position ``at`` of the scope."""
    found = None
    for event in events:
        if event.kind != "step" and flow_position.get(id(event.origin), at) < at \
                and (model is None or event.applies_to(model)):
            found = event
    return found


@dataclass(frozen=True)
class ModeRelevance:
    """Whether train/eval mode can change what a model computes, and the evidence."""

    matters: bool
    #: for messages: "`model` contains `nn.Dropout` on line 12"
    evidence: str


#: the option of DLS301/DLS302 that reports models whose class cannot be resolved
REPORT_UNRESOLVED = "report-unresolved"


def mode_relevance(context: FileContext, models: list[cst.BaseExpression], report_unresolved: bool) -> ModeRelevance:
    """Whether the mode matters for any of ``models``: yes for a torch module known to contain
    dropout, batch-norm or another mode-dependent layer; no for one known to contain none, for
    objects of other frameworks or kinds (tensors, optimizers, numpy layers), for a model handed
    over already in eval mode, and in files that do not use torch.

    For a model whose class cannot be resolved (or whose layers are not all known), yes only when
    ``report_unresolved``, and the evidence says so.  Off by default: on two public repositories
    nobody had tuned on (rasbt/LLMs-from-scratch, labmlai/annotated_deep_learning_paper_implementations)
    every such finding was false (a tokenizer, RMSNorm-only Llama blocks, generated NeoX layers)."""
    unresolved: str | None = None
    if not models and may_use_torch(context):
        unresolved = "the model's class cannot be resolved"
    for expr in models:
        value = value_of(context, expr)
        name = context.code(expr)
        if value.framework not in (None, Framework.TORCH) or value.mode == "eval":
            continue
        if value.kind is Kind.MODULE:
            info = value.module
            if info is not None and info.mode_dependent:
                evidence = info.evidence.render(context) if info.evidence else "a mode-dependent layer"
                return ModeRelevance(True, f"`{name}` contains {evidence}")
            if info is not None and info.mode_dependent is False:
                continue
            label = info.class_name if info is not None else None
            unresolved = unresolved or (f"`{name}` is a `{label}` whose layers are not all known" if label
                                        else f"the class of `{name}` cannot be resolved")
        elif value.kind is Kind.UNKNOWN and may_use_torch(context):
            unresolved = unresolved or f"the class of `{name}` cannot be resolved"
    if unresolved is not None and report_unresolved:
        return ModeRelevance(True, f"{unresolved}, so it may contain dropout or batch-norm")
    return ModeRelevance(False, "")
