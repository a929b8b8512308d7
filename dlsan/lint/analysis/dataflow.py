"""Local def-use data flow within one function (or the module's top level), and graph tracking.

A *scope* is a function body or the module's top level; nested functions, lambdas and classes are
scopes of their own and are not looked into.  :func:`flow_of` indexes a scope once (cached per
file): every binding of a name (``x = ...``, ``x += ...``, ``a, b = ...``, ``for x in ...``,
``with ... as x``, ``(x := ...)``, ``d[k] = ...`` binds ``d``) and every read, in source order.

:func:`reaching_bindings` answers "which assignments may give this name its value here": the last
binding before the use in source order or, when there is none and the use sits in a loop, the
bindings later in that loop body (they reach it through the back edge).

:func:`graph_kind` says whether an expression carries an autograd graph, and of what kind:

* ``LOSS`` - a loss: a loss-function call, anything that is ``.backward()``-ed, arithmetic on one;
* ``OUTPUT`` - a model's output (or a tensor method/``torch`` function of one);
* ``CLEAN`` - known to carry no graph: ``.item()``, ``.detach()``, ``float()``, ``.tolist()``,
  ``.data``, comparisons, ``argmax``, numbers, strings, anything computed with gradients off;
* ``None`` - cannot tell (a parameter, an unknown call): callers stay quiet.

:func:`forward_taint` follows values forward: which names are (re)computed from a set of names.

:mod:`.bindings` keeps a second, smaller index on purpose: it answers "which single value does
this name hold here", where any doubt (a ``for`` target, ``+=``, unpacking) must give ``None``; this
module keeps every binding kind, with its value, and loop back edges, because graph tracking and
taint must see every value that may reach a use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Union

import libcst as cst

from dlsan.lint.analysis.functions import called_function
from dlsan.lint.analysis.grad_mode import grad_disabled
from dlsan.lint.analysis.models import is_loss_call, is_self_call, model_name
from dlsan.lint.analysis.nodes import ancestors_of, method_name, receiver
from dlsan.lint.context import FileContext
from dlsan.lint.names import dotted_name
from dlsan.lint.walk import children

Scope = Union[cst.FunctionDef, cst.Module]
GraphKind = Literal["loss", "output", "clean"]
LOSS: GraphKind = "loss"
OUTPUT: GraphKind = "output"
CLEAN: GraphKind = "clean"

_NESTED_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_ASSIGNMENTS = (cst.Assign, cst.AugAssign, cst.AnnAssign, cst.NamedExpr)
_MAX_DEPTH = 24

#: methods whose result carries no graph (or cannot: numpy/python values, integer tensors)
_SANITIZING_METHODS = frozenset({
    "item", "detach", "tolist", "numpy", "argmax", "argmin", "argsort", "eq", "ne", "lt", "le",
    "gt", "ge", "long", "int", "bool", "byte", "size", "dim", "numel", "nonzero", "isnan", "isinf",
    "isfinite", "all", "any", "equal", "data_ptr", "count_nonzero", "type_as_string", "__len__",
})
#: attributes that carry the graph along (``outputs.loss``, ``out.logits``, ``x.T``)
_GRAPH_ATTRIBUTES = frozenset({"loss", "logits", "values", "T", "mT", "H", "real", "imag",
                               "last_hidden_state", "pooler_output", "hidden_states"})
#: calls returning (values, indices): only the values carry the graph
_VALUES_INDICES = frozenset({"max", "min", "topk", "sort", "kthvalue", "mode", "median", "cummax", "cummin"})
_CLEAN_BUILTINS = frozenset({"float", "int", "bool", "str", "len", "round", "repr", "format", "abs_int"})
_GRAPH_BUILTINS = frozenset({"sum", "max", "min", "abs"})
_CLEAN_TORCH = frozenset({"argmax", "argmin", "argsort", "eq", "ne", "lt", "le", "gt", "ge",
                          "equal", "isnan", "isinf", "isfinite", "numel", "count_nonzero",
                          "no_grad", "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty",
                          "randn", "rand", "randint", "arange", "linspace", "full"})


@dataclass(frozen=True)
class Binding:
    """One assignment to ``name`` (a dotted name; ``d[k] = v`` binds ``d`` with ``item=True``)."""

    name: str
    #: the assigned expression; for ``for x in xs`` the iterable (``element=True``)
    value: cst.BaseExpression | None
    statement: cst.CSTNode
    target: cst.CSTNode
    position: int
    #: position in a tuple target (``a, b = f()`` binds ``b`` with index 1)
    index: int | None = None
    augmented: bool = False
    item: bool = False
    element: bool = False


@dataclass
class Flow:
    scope: Scope
    #: id(node) -> pre-order position, for every node of the scope (nested scopes excluded)
    order: dict[int, int] = field(default_factory=dict)
    #: id(node) -> position of its last descendant: a subtree is the range [position, end]
    ends: dict[int, int] = field(default_factory=dict)
    #: the scope's calls in source order (nested scopes excluded)
    calls: list[cst.Call] = field(default_factory=list)
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    #: dotted name -> the Name/Attribute nodes that read it, in source order
    reads: dict[str, list[cst.BaseExpression]] = field(default_factory=dict)
    #: loops of the scope, outermost first
    loops: list[cst.For | cst.While] = field(default_factory=list)
    returns: list[cst.Return] = field(default_factory=list)
    #: dotted names read by a ``.backward()`` call's receiver or arguments (``loss`` in
    #: ``scaler.scale(loss).backward()`` and ``accelerator.backward(loss)``)
    backpropagated: set[str] = field(default_factory=set)

    def position(self, node: cst.CSTNode) -> int:
        return self.order.get(id(node), -1)

    def contains(self, outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
        """Whether ``inner`` lies in ``outer``'s subtree (both in this scope)."""
        start, at = self.position(outer), self.position(inner)
        return start >= 0 and start <= at <= self.ends.get(id(outer), -1)

    def calls_within(self, outer: cst.CSTNode) -> list[cst.Call]:
        return [call for call in self.calls if self.contains(outer, call)]

    def bindings_of(self, name: str) -> list[Binding]:
        return self.bindings.get(name, [])


# -- building the index ------------------------------------------------------------------------


def scope_of(context: FileContext, node: cst.CSTNode) -> Scope:
    """The function (or module) whose flow ``node`` belongs to."""
    return _innermost_scope(context, ancestors_of(context, node))


def current_scope(context: FileContext) -> Scope:
    """The scope of the node being visited in the walk."""
    return _innermost_scope(context, reversed(context.ancestors))


def binding_scope(context: FileContext) -> Scope:
    """The function (or the module) whose bindings names at the current walk position refer to.
    Unlike :func:`current_scope`, code in a lambda belongs to the function around it."""
    return context.enclosing(cst.FunctionDef) or context.module


def _innermost_scope(context: FileContext, ancestors: Iterable[cst.CSTNode]) -> Scope:
    """The function that the ``ancestors`` (innermost first) put a node in; the module for code
    in a lambda or a class body, whose names this analysis does not follow."""
    for ancestor in ancestors:
        if isinstance(ancestor, cst.FunctionDef):
            return ancestor
        if isinstance(ancestor, (cst.Lambda, cst.ClassDef)):
            break
    return context.module


def flow_of(context: FileContext, scope: Scope) -> Flow:
    return context.fact(("flow", id(scope)), lambda: _build_flow(scope))


def _scope_nodes(scope: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The nodes below ``scope`` in pre-order, nested scopes' insides left out."""
    for node, entering in _scope_events(scope):
        if entering:
            yield node


def _scope_events(scope: cst.CSTNode) -> Iterator[tuple[cst.CSTNode, bool]]:
    """Pre-order enter events and post-order exit events below ``scope``, nested scopes' insides
    left out."""
    stack: list[tuple[cst.CSTNode, bool]] = [(child, True) for child in reversed(children(scope))]
    while stack:
        node, entering = stack.pop()
        yield node, entering
        if entering:
            stack.append((node, False))
            if not isinstance(node, _NESTED_SCOPES):
                stack.extend((child, True) for child in reversed(children(node)))


def _build_flow(scope: Scope) -> Flow:
    flow = Flow(scope)
    targets: set[int] = set()
    position = -1
    for node, entering in _scope_events(scope):
        if not entering:
            flow.ends[id(node)] = position
            continue
        position += 1
        flow.order[id(node)] = position
        if isinstance(node, cst.Call):
            flow.calls.append(node)
        if isinstance(node, cst.Assign):
            for target in node.targets:
                _bind(flow, target.target, node.value, node, position, targets)
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            _bind(flow, node.target, node.value, node, position, targets)
        elif isinstance(node, cst.AugAssign):
            _bind(flow, node.target, node.value, node, position, targets, augmented=True)
        elif isinstance(node, cst.For):
            _bind(flow, node.target, node.iter, node, position, targets, element=True)
            flow.loops.append(node)
        elif isinstance(node, cst.While):
            flow.loops.append(node)
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            _bind(flow, node.asname.name, node.item, node, position, targets)
        elif isinstance(node, cst.NamedExpr):
            _bind(flow, node.target, node.value, node, position, targets)
        elif isinstance(node, cst.Return):
            flow.returns.append(node)
        elif isinstance(node, cst.Call) and method_name(node) in ("backward", "manual_backward"):
            for part in (receiver(node), *(arg.value for arg in node.args)):
                flow.backpropagated |= set(dotted_names_in(part))
        if isinstance(node, (cst.Name, cst.Attribute)) and id(node) not in targets:
            name = dotted_name(node)
            if name is not None:
                flow.reads.setdefault(name, []).append(node)
    return flow


def _bind(
    flow: Flow,
    target: cst.BaseExpression,
    value: cst.BaseExpression | None,
    statement: cst.CSTNode,
    position: int,
    targets: set[int],
    *,
    index: int | None = None,
    augmented: bool = False,
    element: bool = False,
) -> None:
    if isinstance(target, (cst.Tuple, cst.List)):
        for i, item in enumerate(target.elements):
            inner = item.value.value if isinstance(item.value, cst.StarredElement) else item.value
            _bind(flow, inner, value, statement, position, targets, index=i, element=element)
        return
    item = False
    while isinstance(target, cst.Subscript):
        target, item = target.value, True
    name = dotted_name(target)
    if name is None:
        return
    if not item:
        targets.add(id(target))
    flow.bindings.setdefault(name, []).append(Binding(
        name=name, value=value, statement=statement, target=target, position=position,
        index=index, augmented=augmented, item=item, element=element,
    ))


def dotted_names_in(node: cst.CSTNode | None) -> list[str]:
    """Dotted names read anywhere in ``node`` (``a.b`` gives ``a.b`` and ``a``)."""
    if node is None:
        return []
    found = []
    for item in (node, *_scope_nodes(node)):
        if isinstance(item, (cst.Name, cst.Attribute)):
            name = dotted_name(item)
            if name is not None:
                found.append(name)
    return found


def root_names_in(node: cst.CSTNode | None) -> set[str]:
    """Plain names read anywhere in ``node`` (``df.values[:, 1]`` gives ``df``)."""
    if node is None:
        return set()
    return {item.value for item in (node, *_scope_nodes(node)) if isinstance(item, cst.Name)}


# -- reaching definitions ----------------------------------------------------------------------


def enclosing_loops_in(flow: Flow, node: cst.CSTNode) -> list[cst.For | cst.While]:
    """Loops of ``flow``'s scope that contain ``node``, innermost first."""
    return [loop for loop in reversed(flow.loops) if loop is not node and flow.contains(loop, node)]


def reaching_bindings(context: FileContext, flow: Flow, name: str, at: cst.CSTNode) -> list[Binding]:
    """The bindings of ``name`` that may give it its value at ``at`` (see the module docstring)."""
    position = flow.position(at)
    bindings = flow.bindings_of(name)
    # a use inside the assigned value itself (`x = x + 1`) reads the earlier value
    before = [b for b in bindings if b.position < position
              and not (isinstance(b.statement, _ASSIGNMENTS) and flow.contains(b.statement, at))]
    if before:
        reaching = [before[-1]]
        # `x += v` and `d[k] = v` update the earlier value rather than replace it
        for earlier in reversed(before[:-1]):
            if not (reaching[-1].augmented or reaching[-1].item):
                break
            reaching.append(earlier)
        return reaching
    for loop in enclosing_loops_in(flow, at):
        later = [b for b in bindings if b.position > position and flow.contains(loop, b.statement)]
        if later:
            return later
    return []


# -- graph tracking ----------------------------------------------------------------------------


def graph_kind(context: FileContext, expr: cst.BaseExpression, at: cst.CSTNode | None = None) -> GraphKind | None:
    """Whether ``expr`` (evaluated where ``at`` is, default: ``expr`` itself) carries a graph."""
    at = expr if at is None else at
    flow = flow_of(context, scope_of(context, at))
    return _Tracker(context).kind(flow, expr, at, 0)


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

    def kind(self, flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode, depth: int) -> GraphKind | None:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString,
                             cst.ConcatenatedString, cst.FormattedString, cst.Comparison)):
            return CLEAN
        if isinstance(expr, cst.Name):
            if expr.value in ("None", "True", "False"):
                return CLEAN
            return self.name_kind(flow, expr.value, at, depth)
        if isinstance(expr, cst.Attribute):
            return self.attribute_kind(flow, expr, at, depth)
        if isinstance(expr, cst.BinaryOperation):
            return _join([self.kind(flow, expr.left, at, depth + 1), self.kind(flow, expr.right, at, depth + 1)])
        if isinstance(expr, cst.UnaryOperation):
            if isinstance(expr.operator, cst.Not):
                return CLEAN
            return self.kind(flow, expr.expression, at, depth + 1)
        if isinstance(expr, cst.IfExp):
            return _join([self.kind(flow, expr.body, at, depth + 1), self.kind(flow, expr.orelse, at, depth + 1)])
        if isinstance(expr, cst.Subscript):
            return self.kind(flow, expr.value, at, depth + 1)
        if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
            return _join([self.kind(flow, e.value, at, depth + 1) for e in expr.elements]) if expr.elements else CLEAN
        if isinstance(expr, cst.Dict):
            values = [e.value for e in expr.elements if isinstance(e, cst.DictElement)]
            return _join([self.kind(flow, v, at, depth + 1) for v in values]) if values else CLEAN
        if isinstance(expr, cst.Call):
            return self.call_kind(flow, expr, at, depth)
        return None

    def name_kind(self, flow: Flow, name: str, at: cst.CSTNode, depth: int) -> GraphKind | None:
        reaching = reaching_bindings(self.context, flow, name, at)
        if not reaching:
            return None
        kinds = [self.binding_kind(flow, binding, depth) for binding in reaching]
        joined = _join(kinds)
        if joined is None and name in flow.backpropagated:
            return LOSS
        return joined

    def binding_kind(self, flow: Flow, binding: Binding, depth: int) -> GraphKind | None:
        key = id(binding.statement) * 31 + (binding.index or 0)
        if key in self.active or binding.value is None:
            return None
        if self.computed_without_grad(binding.statement):
            return CLEAN
        self.active.add(key)
        try:
            value = binding.value
            if binding.index is not None and binding.index > 0 and _returns_values_and_indices(value):
                return CLEAN
            kind = self.kind(flow, value, binding.statement, depth + 1)
            if binding.augmented or binding.item:
                return kind if carries_graph(kind) else None
            return kind
        finally:
            self.active.discard(key)

    def computed_without_grad(self, statement: cst.CSTNode) -> bool:
        chain = list(reversed(ancestors_of(self.context, statement)))
        return grad_disabled(self.context, chain)

    def attribute_kind(self, flow: Flow, expr: cst.Attribute, at: cst.CSTNode, depth: int) -> GraphKind | None:
        name = dotted_name(expr)
        if name is not None and flow.bindings_of(name):
            return self.name_kind(flow, name, at, depth)
        attr = expr.attr.value
        if attr in _GRAPH_ATTRIBUTES or "loss" in attr or "logit" in attr:
            base = self.kind(flow, expr.value, at, depth + 1)
            if attr == "loss" or "loss" in attr:
                return LOSS if carries_graph(base) else base
            return base
        if attr in ("data", "grad", "shape", "dtype", "device", "ndim", "requires_grad", "is_cuda"):
            return CLEAN
        return None

    def call_kind(self, flow: Flow, call: cst.Call, at: cst.CSTNode, depth: int) -> GraphKind | None:
        context = self.context
        func = call.func
        method = method_name(call)
        if method is not None:
            base = self.kind(flow, func.value, at, depth + 1)  # type: ignore[union-attr]
            if carries_graph(base):
                if method in _SANITIZING_METHODS:
                    return CLEAN
                if method in ("sum", "mean"):
                    return LOSS if not call.args else base
                return base
            if base == CLEAN:
                return CLEAN
        within = next((a for a in ancestors_of(context, call) if isinstance(a, cst.ClassDef)), None)
        target = called_function(context, call, within)
        if target is not None:
            return self.same_file_return_kind(target, depth)
        if isinstance(func, cst.Name):
            if func.value in _CLEAN_BUILTINS:
                return CLEAN
            if func.value in _GRAPH_BUILTINS and func.value not in context.names.candidates(func):
                return _join([self.kind(flow, arg.value, at, depth + 1) for arg in call.args])
        if is_loss_call(context, call):
            return LOSS
        if is_self_call(call) or model_name(context, call) is not None:
            return OUTPUT
        resolved = context.names.resolve(func)
        if resolved is not None:
            if resolved.startswith(("numpy.", "math.", "statistics.")):
                return CLEAN
            if resolved.startswith("torch.") and not resolved.startswith("torch.nn."):
                if resolved.rsplit(".", 1)[-1] in _CLEAN_TORCH:
                    return CLEAN
                return _join([self.kind(flow, arg.value, at, depth + 1) for arg in call.args]) or None
        return None

    def same_file_return_kind(self, target: cst.FunctionDef, depth: int) -> GraphKind | None:
        """What a function of this file returns (``CLEAN`` for ``None``)."""
        context = self.context
        if id(target) in self.active:
            return None
        self.active.add(id(target))
        try:
            flow = flow_of(context, target)
            if grad_disabled(context, [target]):
                return CLEAN
            values = [r.value for r in flow.returns if r.value is not None]
            if not values:
                return CLEAN
            return _join([self.kind(flow, value, value, depth + 1) for value in values])
        finally:
            self.active.discard(id(target))


def _returns_values_and_indices(value: cst.BaseExpression) -> bool:
    """``torch.max(x, 1)``, ``x.topk(5)``: a (values, indices) pair (with a dim argument)."""
    if not isinstance(value, cst.Call):
        return False
    name = dotted_name(value.func)
    last = name.rsplit(".", 1)[-1] if name else method_name(value)
    if last not in _VALUES_INDICES:
        return False
    is_function = name is not None and name.split(".", 1)[0] in ("torch",)
    return len(value.args) >= (2 if is_function else 1) or last in ("topk", "sort", "kthvalue")


# -- forward flow --------------------------------------------------------------------------------


def forward_taint(flow: Flow, seeds: dict[str, int]) -> dict[str, Binding | None]:
    """Names whose value is computed from ``seeds`` (name -> position from which it is tainted).

    Walks the scope's bindings in source order: a binding whose value reads a tainted name taints
    its target (``d[k] = f(x)`` taints ``d``); a plain re-binding from untainted values clears it.
    Returns each tainted name with the binding that tainted it (``None`` for a seed).
    """
    tainted: dict[str, Binding | None] = {}
    pending = sorted(seeds.items(), key=lambda item: item[1])
    bindings = sorted((b for bs in flow.bindings.values() for b in bs), key=lambda b: b.position)
    for binding in bindings:
        while pending and pending[0][1] <= binding.position:
            tainted[pending.pop(0)[0]] = None
        reads = root_names_in(binding.value) | set(dotted_names_in(binding.value))
        if reads & set(tainted):
            tainted.setdefault(binding.name, binding)
            tainted.setdefault(binding.name.split(".", 1)[0], binding)
        elif not (binding.augmented or binding.item) and binding.name in tainted and binding.name not in seeds:
            del tainted[binding.name]
    for name, _ in pending:
        tainted[name] = None
    return tainted
