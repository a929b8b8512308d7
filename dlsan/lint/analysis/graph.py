"""Whether a value carries an autograd graph, and forward taint: questions asked of the model.

:func:`graph_kind` says whether an expression carries an autograd graph, and of what kind:

* ``LOSS`` - a loss: a loss-function call, anything that is ``.backward()``-ed, arithmetic on one;
* ``OUTPUT`` - a model's output (or a tensor method/``torch`` function of one);
* ``CLEAN`` - known to carry no graph: ``.item()``, ``.detach()``, ``float()``, ``.tolist()``,
  ``.data``, comparisons, ``argmax``, numbers, strings, anything computed with gradients off;
* ``None`` - cannot tell (a parameter, an unknown call): callers stay quiet.

Names are followed through the semantic model's reaching definitions (every binding that may
reach a use, loop back edges included).  :func:`forward_taint` follows values forward: which
names are (re)computed from a set of names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import libcst as cst

from dlsan.lint.analysis.functions import called_function, forward_of
from dlsan.lint.analysis.grad_mode import grad_disabled
from dlsan.lint.analysis.models import is_backward_call, is_loss_call, is_self_call, model_name
from dlsan.lint.analysis.nodes import method_name, receiver
from dlsan.lint.catalog import torch_api as T
from dlsan.lint.context import FileContext, node_fact
from dlsan.lint.names import dotted_name
from dlsan.lint.semantic import Binding, BindingKind, Scope, names_read
from dlsan.lint.semantic.values import value_of

GraphKind = Literal["loss", "output", "clean"]
LOSS: GraphKind = "loss"
OUTPUT: GraphKind = "output"
CLEAN: GraphKind = "clean"

_MAX_DEPTH = 24
#: bindings that hold no value a graph could flow through (the names are still bound)
_NOT_VALUES = frozenset({BindingKind.PARAMETER, BindingKind.IMPORT, BindingKind.FUNCTION_DEF,
                         BindingKind.CLASS_DEF, BindingKind.DECLARATION, BindingKind.EXCEPT_TARGET})
#: attributes that carry the graph along (``outputs.loss``, ``out.logits``, ``x.T``)
_GRAPH_ATTRIBUTES = frozenset({"loss", "logits", "values", "T", "mT", "H", "real", "imag",
                               "last_hidden_state", "pooler_output", "hidden_states"})
_CLEAN_BUILTINS = frozenset({"float", "int", "bool", "str", "len", "round", "repr", "format", "abs_int"})
_GRAPH_BUILTINS = frozenset({"sum", "max", "min", "abs"})



def backpropagated(context: FileContext, scope: Scope) -> set[str]:
    """Dotted names read by a ``.backward()`` call's receiver or arguments in ``scope``'s frame
    (``loss`` in ``scaler.scale(loss).backward()`` and ``accelerator.backward(loss)``)."""
    return _backpropagated_in(context, scope.frame)


@node_fact
def _backpropagated_in(context: FileContext, frame: Scope) -> set[str]:
    found: set[str] = set()
    for call in frame.calls:
        if is_backward_call(context, call):
            for part in (receiver(call), *(arg.value for arg in call.args)):
                found |= set(names_read(part))
    return found


def graph_kind(context: FileContext, expr: cst.BaseExpression, at: cst.CSTNode | None = None) -> GraphKind | None:
    """Whether ``expr`` (evaluated where ``at`` is, default: ``expr`` itself) carries a graph."""
    at = expr if at is None else at
    return _Tracker(context).kind(expr, at, 0)


def carries_graph(kind: GraphKind | None) -> bool:
    return kind in (LOSS, OUTPUT)


def _join(kinds: Iterable[GraphKind | None]) -> GraphKind | None:
    """Loss beats output beats unknown beats clean: what may flow in, flows out."""
    kinds = list(kinds)
    for kind in (LOSS, OUTPUT, None):
        if kind in kinds:
            return kind
    return CLEAN


class _Tracker:
    def __init__(self, context: FileContext) -> None:
        self.context = context
        self.active: set[int] = set()

    def kind(self, expr: cst.BaseExpression, at: cst.CSTNode, depth: int) -> GraphKind | None:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString,
                             cst.ConcatenatedString, cst.FormattedString, cst.Comparison)):
            return CLEAN
        if isinstance(expr, cst.Name):
            if expr.value in ("None", "True", "False"):
                return CLEAN
            return self.name_kind(expr.value, at, depth)
        if isinstance(expr, cst.Attribute):
            return self.attribute_kind(expr, at, depth)
        if isinstance(expr, cst.BinaryOperation):
            return _join([self.kind(expr.left, at, depth + 1), self.kind(expr.right, at, depth + 1)])
        if isinstance(expr, cst.UnaryOperation):
            if isinstance(expr.operator, cst.Not):
                return CLEAN
            return self.kind(expr.expression, at, depth + 1)
        if isinstance(expr, cst.IfExp):
            return _join([self.kind(expr.body, at, depth + 1), self.kind(expr.orelse, at, depth + 1)])
        if isinstance(expr, cst.Subscript):
            return self.kind(expr.value, at, depth + 1)
        if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
            return _join([self.kind(e.value, at, depth + 1) for e in expr.elements]) if expr.elements else CLEAN
        if isinstance(expr, cst.Dict):
            values = [e.value for e in expr.elements if isinstance(e, cst.DictElement)]
            return _join([self.kind(v, at, depth + 1) for v in values]) if values else CLEAN
        if isinstance(expr, cst.Call):
            return self.call_kind(expr, at, depth)
        return None

    def name_kind(self, name: str, at: cst.CSTNode, depth: int) -> GraphKind | None:
        semantic = self.context.semantic
        reaching = [b for b in semantic.reaching(name, at) if b.kind not in _NOT_VALUES]
        if not reaching:
            return None
        kinds = [self.binding_kind(binding, depth) for binding in reaching]
        joined = _join(kinds)
        if joined is None and name in backpropagated(self.context, semantic.function_of(at)):
            return LOSS
        return joined

    def binding_kind(self, binding: Binding, depth: int) -> GraphKind | None:
        key = id(binding.node) * 31 + (binding.index or 0)
        if key in self.active or binding.value is None:
            return None
        if self.computed_without_grad(binding.node):
            return CLEAN
        self.active.add(key)
        try:
            value = binding.value
            if binding.index is not None and binding.index > 0 and _returns_values_and_indices(value):
                return CLEAN
            if binding.index is not None and isinstance(value, cst.Call):
                split, part = self.returned_part(value, binding.index, depth)
                if split:
                    return part
            kind = self.kind(value, binding.node, depth + 1)
            if binding.augmented or binding.item:
                return kind if carries_graph(kind) else None
            return kind
        finally:
            self.active.discard(key)

    def computed_without_grad(self, statement: cst.CSTNode) -> bool:
        chain = list(reversed(list(self.context.semantic.ancestors(statement))))
        return grad_disabled(self.context, chain)

    def attribute_kind(self, expr: cst.Attribute, at: cst.CSTNode, depth: int) -> GraphKind | None:
        name = dotted_name(expr)
        if name is not None and self.context.semantic.reaching(name, at):
            return self.name_kind(name, at, depth)
        attr = expr.attr.value
        if attr in _GRAPH_ATTRIBUTES or "loss" in attr or "logit" in attr:
            base = self.kind(expr.value, at, depth + 1)
            if attr == "loss" or "loss" in attr:
                return LOSS if carries_graph(base) else base
            return base
        if attr in T.GRAPH_FREE_ATTRIBUTES:
            return CLEAN
        return None

    def call_kind(self, call: cst.Call, at: cst.CSTNode, depth: int) -> GraphKind | None:
        context = self.context
        func = call.func
        method = method_name(call)
        if method is not None and isinstance(func, cst.Attribute):
            base = self.kind(func.value, at, depth + 1)
            if carries_graph(base):
                if method in T.GRAPH_FREE_METHODS:
                    return CLEAN
                if method in ("sum", "mean"):
                    return LOSS if not call.args else base
                return base
            if base == CLEAN:
                return CLEAN
        within = context.semantic.enclosing(call, cst.ClassDef)
        target = called_function(context, call, within if isinstance(within, cst.ClassDef) else None)
        if target is not None:
            return self.same_file_return_kind(target, depth)
        if isinstance(func, cst.Name):
            if func.value in _CLEAN_BUILTINS:
                return CLEAN
            if func.value in _GRAPH_BUILTINS and func.value not in context.names.qualified(func):
                return _join([self.kind(arg.value, at, depth + 1) for arg in call.args])
        if is_loss_call(context, call):
            return LOSS
        if is_self_call(call) or model_name(context, call) is not None:
            return OUTPUT
        resolved = context.names.resolve(func)
        if resolved is not None:
            if resolved.startswith(("numpy.", "math.", "statistics.")):
                return CLEAN
            if resolved.startswith("torch.") and not resolved.startswith("torch.nn."):
                if resolved in T.GRAPH_FREE_FUNCTIONS:
                    return CLEAN
                return _join([self.kind(arg.value, at, depth + 1) for arg in call.args]) or None
        return None

    def returned_part(self, call: cst.Call, index: int, depth: int) -> tuple[bool, GraphKind | None]:
        """``loss, n_correct = helper(...)``: whether the returns of the same-file function ``call``
        runs are all tuples with a part ``index``, and what that part carries."""
        within = self.context.semantic.enclosing(call, cst.ClassDef)
        target = called_function(self.context, call, within if isinstance(within, cst.ClassDef) else None) \
            or self.forward_of(call)
        if target is None or id(target) in self.active:
            return False, None
        returns = [r.value for r in self.context.semantic.scope_for(target).returns]
        parts = [r.elements[index].value for r in returns
                 if isinstance(r, cst.Tuple) and index < len(r.elements)
                 and not any(isinstance(e, cst.StarredElement) for e in r.elements)]
        if not returns or len(parts) != len(returns):
            return False, None
        self.active.add(id(target))
        try:
            if grad_disabled(self.context, [target]):
                return True, CLEAN
            return True, _join([self.kind(part, part, depth + 1) for part in parts])
        finally:
            self.active.discard(id(target))

    def forward_of(self, call: cst.Call) -> cst.FunctionDef | None:
        """The ``forward`` of the module class of this file that ``model(x)`` runs
        (``out, _, ratio = model(data)``: pyg-team/pytorch_geometric examples/colors_topk_pool.py
        returns ``ratio = out.size(0) / x.size(0)``, a number)."""
        if model_name(self.context, call) is None:
            return None
        module = value_of(self.context, call.func).module
        if module is None or module.cls is None:
            return None
        return forward_of(self.context, module.cls)

    def same_file_return_kind(self, target: cst.FunctionDef, depth: int) -> GraphKind | None:
        """What a function of this file returns (``CLEAN`` for ``None``)."""
        context = self.context
        if id(target) in self.active:
            return None
        self.active.add(id(target))
        try:
            if grad_disabled(context, [target]):
                return CLEAN
            values = [r.value for r in context.semantic.scope_for(target).returns if r.value is not None]
            if not values:
                return CLEAN
            return _join([self.kind(value, value, depth + 1) for value in values])
        finally:
            self.active.discard(id(target))


def _returns_values_and_indices(value: cst.BaseExpression) -> bool:
    """``torch.max(x, 1)``, ``x.topk(5)``: a (values, indices) pair (with a dim argument)."""
    if not isinstance(value, cst.Call):
        return False
    name = dotted_name(value.func)
    last = name.rsplit(".", 1)[-1] if name else method_name(value)
    if last not in T.VALUES_INDICES:
        return False
    is_function = name is not None and name.split(".", 1)[0] in ("torch",)
    return len(value.args) >= (2 if is_function else 1) or last in ("topk", "sort", "kthvalue")


# -- forward flow --------------------------------------------------------------------------------


def forward_taint(context: FileContext, scope: Scope, seeds: dict[str, int]) -> dict[str, Binding | None]:
    """Names whose value is computed from ``seeds`` (name -> position from which it is tainted).

    Walks the scope's bindings in source order: a binding whose value reads a tainted name taints
    its target (``d[k] = f(x)`` taints ``d``); a plain re-binding from untainted values clears it.
    Returns each tainted name with the binding that tainted it (``None`` for a seed).
    """
    tainted: dict[str, Binding | None] = {}
    pending = sorted(seeds.items(), key=lambda item: item[1])
    for binding, reads in _value_bindings(context, scope):
        while pending and pending[0][1] <= binding.position:
            tainted[pending.pop(0)[0]] = None
        if not reads.isdisjoint(tainted):
            tainted.setdefault(binding.name, binding)
            tainted.setdefault(binding.name.split(".", 1)[0], binding)
        elif not (binding.augmented or binding.item) and binding.name in tainted and binding.name not in seeds:
            del tainted[binding.name]
    for name, _ in pending:
        tainted[name] = None
    return tainted


@node_fact
def _value_bindings(context: FileContext, scope: Scope) -> list[tuple[Binding, frozenset[str]]]:
    """The bindings of ``scope`` that hold a value, in source order, each with the names its value
    reads (asked by every taint from the scope: once per file)."""
    bindings = sorted((b for bs in scope.bindings.values() for b in bs if b.kind not in _NOT_VALUES),
                      key=lambda b: b.position)
    # names_read() has every plain name root_names_read() has (a Name's dotted name is itself): one
    # walk of each value, not two
    return [(b, frozenset(names_read(b.value))) for b in bindings]
