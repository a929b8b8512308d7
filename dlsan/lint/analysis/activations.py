"""Which output activation an expression ends in: softmax, log_softmax or sigmoid.

Seen through:

* calls: ``F.softmax(z, dim=1)``, ``torch.sigmoid(z)``, ``z.log_softmax(-1)``, ``nn.Softmax(1)(z)``;
* variables: ``probs = z.softmax(-1)`` ... ``probs`` (the last plain assignment before the use);
* modules called on the input: ``self.act(z)`` with ``self.act = nn.Sigmoid()``, a ``nn.Sequential``
  whose last layer is one of these (also ``nn.Sequential(*layers)`` where the last ``layers.append``
  runs unconditionally), and a model class of the same file whose ``forward`` returns such an output
  on every ``return``.

Losses are seen as functions, loss modules, and loss modules of the file that wrap one of them.
Every library name is asked where it is written (:mod:`dlsan.lint.semantic.qualified`): only
torch's count.

Anything else (a model of unknown class, ``outputs.logits``, a branchy forward) is unknown: ``None``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import libcst as cst

from dlsan.lint.analysis.functions import defined_class, file_index, forward_of, is_module_class
from dlsan.lint.analysis.nodes import source_mentions
from dlsan.lint.calls import get_arg, has_unpacking, positional_args
from dlsan.lint.catalog.frameworks import Framework
from dlsan.lint.catalog.torch_api import (
    ACTIVATION_FUNCTIONS,
    ACTIVATION_METHODS,
    ACTIVATION_MODULES,
    SEQUENTIAL,
    Activation,
)
from dlsan.lint.context import Fact, FileContext, node_fact
from dlsan.lint.semantic import project
from dlsan.lint.semantic.model import Located
from dlsan.lint.semantic.objects import constructor
from dlsan.lint.semantic.qualified import refers_to_torch, torch_names
from dlsan.lint.semantic.scopes import BindingKind
from dlsan.lint.semantic.values import value_of

#: tensor methods that keep the values (and so the activation) of their input
_VALUE_PRESERVING = frozenset({"view", "reshape", "squeeze", "unsqueeze", "flatten", "contiguous", "float",
                               "double", "half", "to", "permute", "transpose", "view_as", "reshape_as"})
_MAX_DEPTH = 12


@dataclass(frozen=True)
class Ending:
    kind: Activation
    #: the activation call itself, when the expression *is* that call (a local, fixable case)
    inline_call: cst.Call | None = None
    #: the same-file model class whose forward ends in the activation
    model_class: str | None = None


def activation_call(context: FileContext, call: cst.Call) -> Activation | None:
    """The activation a call applies by itself (a function or tensor method, no module).

    A function must be known to be torch's where it is called (:func:`torch_names`: not
    ``tf.nn.softmax``, not a ``softmax`` star-imported from two frameworks or defined in the file).
    A method's receiver must not be known to be another framework's array (``nd.array(x).sigmoid()``
    is MXNet's); of an unknown receiver the loss that consumes the output decides, as a torch loss
    only takes torch tensors."""
    function = _activation_function(context, call.func)
    if function is not None:
        return function
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in ACTIVATION_METHODS:
        owner = func.value
        if (context.names.resolve(owner) is None and not (isinstance(owner, cst.Name) and owner.value == "self")
                and _tensor_method_arguments(call) and value_of(context, owner).framework in (None, Framework.TORCH)):
            return ACTIVATION_METHODS[func.attr.value]
    return None


def _activation_function(context: FileContext, func: cst.BaseExpression) -> Activation | None:
    """The activation of the torch function ``func`` refers to (``F.softmax``, ``torch.sigmoid``)."""
    kinds = {ACTIVATION_FUNCTIONS[name] for name in torch_names(context, func) if name in ACTIVATION_FUNCTIONS}
    return kinds.pop() if len(kinds) == 1 else None


def _tensor_method_arguments(call: cst.Call) -> bool:
    """Whether the arguments fit ``t.sigmoid()`` / ``t.softmax(dim)``, not ``obj.softmax(x)``."""
    if has_unpacking(call):
        return False
    args = positional_args(call)
    if not args:
        return True
    if len(args) > 1 or call.func.attr.value == "sigmoid":  # type: ignore[attr-defined]
        return False
    value = args[0].value
    if isinstance(value, cst.UnaryOperation):
        value = value.expression
    return isinstance(value, cst.Integer) or isinstance(value, cst.Name) and ("dim" in value.value or "axis" in value.value)


def activation_input(context: FileContext, call: cst.Call) -> cst.BaseExpression | None:
    """What the activation call is applied to: ``z`` in ``torch.sigmoid(z)`` and ``z.sigmoid()``."""
    if _activation_function(context, call.func) is not None:
        args = positional_args(call)
        only_input = len(call.args) == 1 or (len(args) == 1 and get_arg(call, "dim") is not None)
        return args[0].value if args and only_input else None
    if isinstance(call.func, cst.Attribute):
        return call.func.value
    return None


def activation_input_source(context: FileContext, call: cst.Call) -> str | None:
    """The source of what the activation call is applied to, when known and on one line: what a
    fix that drops the activation writes in its place."""
    logits = activation_input(context, call)
    if logits is None:
        return None
    source = context.code(logits)
    return None if "\n" in source else source


def ending(context: FileContext, expr: cst.BaseExpression, cls: cst.ClassDef | None) -> Ending | None:
    """The activation that ``expr`` (inside class ``cls``) ends in."""
    return _ending(context, expr, cls, 0)


def _ending(context: FileContext, expr: cst.BaseExpression, cls: cst.ClassDef | None,
            depth: int) -> Ending | None:
    if depth > _MAX_DEPTH:
        return None
    if isinstance(expr, cst.Name):
        found = context.semantic.value_at(expr)
        if found is None:
            return None
        result = _ending(context, found.expr, cls, depth + 1)
        return None if result is None else Ending(result.kind, None, result.model_class)
    if not isinstance(expr, cst.Call):
        return None
    direct = activation_call(context, expr)
    if direct is not None:
        return Ending(direct, inline_call=expr)
    if isinstance(expr.func, cst.Attribute) and expr.func.attr.value in _VALUE_PRESERVING:
        inner = _ending(context, expr.func.value, cls, depth + 1)
        return None if inner is None else Ending(inner.kind, None, inner.model_class)
    built = constructor(context, expr.func, cls)
    return None if built is None else _module_ending(context, built, cls, depth + 1)


def _module_ending(context: FileContext, built: Located, cls: cst.ClassDef | None, depth: int) -> Ending | None:
    """The activation a module built by ``built.expr`` (a constructor call) ends its output in."""
    call = built.expr
    if not isinstance(call, cst.Call) or depth > _MAX_DEPTH:
        return None
    for candidate in torch_names(context, call.func):
        if candidate in ACTIVATION_MODULES:
            return Ending(ACTIVATION_MODULES[candidate])
        if candidate == SEQUENTIAL:
            return _sequential_ending(context, call, cls, depth)
    if isinstance(call.func, cst.Name):
        model = file_index(context).classes.get(call.func.value)
        if model is not None and is_module_class(context, model):
            result = forward_ending(context, model, depth)
            return None if result is None else Ending(result.kind, model_class=model.name.value)
    return None


def _sequential_ending(context: FileContext, call: cst.Call, cls: cst.ClassDef | None,
                       depth: int) -> Ending | None:
    if not call.args or call.args[-1].keyword is not None:
        return None
    layer: cst.BaseExpression | None = call.args[-1].value
    if call.args[-1].star == "*":
        layer = _last_appended(context, call.args[-1].value, call)
    elif call.args[-1].star:
        return None
    last = constructor(context, layer, cls) if layer is not None else None
    return None if last is None else _module_ending(context, last, cls, depth + 1)


def _last_appended(context: FileContext, layers: cst.BaseExpression, sequential: cst.Call) -> cst.BaseExpression | None:
    """The last layer of the list ``layers`` that ``nn.Sequential(*layers)`` unpacks: the list is
    built once in the same function (``layers = [...]``), then grown with ``append``/``extend``,
    and the last of those before the ``Sequential`` runs unconditionally (not in an ``if``, a loop
    or a ``try``), so its argument is the last layer; anything else gives ``None``."""
    semantic = context.semantic
    if not isinstance(layers, cst.Name):
        return None
    scope = semantic.frame_of(layers)
    found = semantic.resolving_scope(layers.value, layers)
    bindings = scope.bindings_of(layers.value)
    if (found is None or found[0].frame is not scope or len(bindings) != 1
            or bindings[0].kind is not BindingKind.ASSIGNMENT or not isinstance(bindings[0].value, cst.List)):
        return None
    built = bindings[0].value
    position = scope.position(sequential)
    if position < 0:
        return None  # the Sequential is built in a nested scope
    growing: list[tuple[int, cst.Call]] = []
    for method in ("append", "extend", "insert"):
        for read in scope.reads.get(f"{layers.value}.{method}", []):
            grown = semantic.parent(read)
            if not isinstance(grown, cst.Call) or method == "insert":
                return None
            if scope.position(grown) < position:
                growing.append((scope.position(grown), grown))
    if not growing:
        elements = built.elements
        return elements[-1].value if elements and not isinstance(elements[-1], cst.StarredElement) else None
    last = max(growing, key=lambda item: item[0])[1]
    if not last.args or not semantic.runs_whenever(last, scope.node):
        return None
    value = last.args[-1].value
    if isinstance(last.func, cst.Attribute) and last.func.attr.value == "extend":
        if not isinstance(value, (cst.List, cst.Tuple)) or not value.elements:
            return None
        value = value.elements[-1].value
    return value


def forward_ending(context: FileContext, model: cst.ClassDef, depth: int = 0) -> Ending | None:
    """The activation every ``return`` of ``model.forward`` ends in, if they agree."""

    def compute() -> Ending | None:
        forward = forward_of(context, model)
        if forward is None:
            return None
        returns = context.semantic.scope_for(forward).returns
        endings = [_ending(context, r.value, model, depth + 1) if r.value is not None else None
                   for r in returns]
        if not endings or any(e is None for e in endings):
            return None
        kinds = {e.kind for e in endings if e is not None}
        return Ending(kinds.pop()) if len(kinds) == 1 else None

    return _FORWARD_ENDING.get_guarded(context, model, compute, None)


_FORWARD_ENDING: Fact[cst.ClassDef, Ending | None] = Fact("forward ending")


@dataclass(frozen=True)
class LossCall:
    """A call that computes a given loss, and how the loss was named there."""

    #: the prediction argument (``input``)
    prediction: cst.BaseExpression
    #: ``F.binary_cross_entropy`` (functional form) or the loss module's constructor call
    loss: Located | None
    functional: bool
    #: the function (or lambda, or module) the call reads its names in
    scope: cst.CSTNode


def loss_call(context: FileContext, call: cst.Call, functions: frozenset[str],
              modules: frozenset[str]) -> LossCall | None:
    """``call`` as a loss of the given kinds: ``F.cross_entropy(pred, y)``, or a call of an object
    built by ``nn.CrossEntropyLoss(...)`` (``criterion(pred, y)``, ``nn.CrossEntropyLoss()(pred, y)``)
    or by a loss module of this file that wraps one of them (:func:`_wraps_loss`), each known to be
    torch's where it is written.  Call it during the walk: the scope is the walk's current one."""
    shape = _loss_shape(context, call)
    if shape is None:
        return None
    prediction, names_a_library_object = shape
    if refers_to_torch(context, call.func, functions):
        return LossCall(prediction, None, functional=True, scope=_walk_scope(context))
    if names_a_library_object:
        return None
    mentioned = source_mentions(context, _loss_names(functions, modules))
    if not mentioned and not project.imports_project_modules(context):
        return None
    built = constructor(context, call.func, context.enclosing(cst.ClassDef))
    if built is None or not isinstance(built.expr, cst.Call):
        return None
    if (mentioned and refers_to_torch(context, built.expr.func, modules)) or _wraps_loss(
            context, built.expr, functions, modules):
        return LossCall(prediction, built, functional=False, scope=_walk_scope(context))
    return None


@functools.lru_cache(maxsize=64)
def _loss_names(functions: frozenset[str], modules: frozenset[str]) -> frozenset[str]:
    """Every name of the given kinds of loss: one set per pair of a rule's sets (their union, made
    and hashed for each call, cost as much as the lookup it is the key of)."""
    return modules | functions


@node_fact
def _loss_shape(context: FileContext, call: cst.Call) -> tuple[cst.BaseExpression, bool] | None:
    """What :func:`loss_call` reads of ``call`` whatever the kind of loss (several rules ask it of
    every call): the prediction argument, and whether the called expression is no object built
    in the file (not a name, attribute or call, or the name of a library object); ``None`` when
    the call has no prediction argument."""
    if not call.args or call.args[0].keyword is not None and call.args[0].keyword.value != "input":
        return None
    prediction = get_arg(call, "input", 0)
    if prediction is None or prediction.star:
        return None
    func = call.func
    func_type = type(func)
    # exact types: libcst's classes are slow-to-ask ABCs, and the parser builds no subclasses
    not_built = not (func_type is cst.Name or func_type is cst.Attribute or func_type is cst.Call)
    return prediction.value, not_built or context.names.resolve(func) is not None


def _wraps_loss(context: FileContext, built: cst.Call, functions: frozenset[str], modules: frozenset[str]) -> bool:
    """Whether ``built`` constructs a module class of the project whose ``forward`` returns, on
    every ``return``, the given loss of its first input as it came in, or only rearranged
    (:func:`_rearranged_parameter`)::

        class CELoss(nn.Module):
            def forward(self, logits, target):
                return F.cross_entropy(logits, target)
    """
    forward = _module_forward(context, built)
    return forward is not None and bool(forward.returns) and all(
        _loss_of_parameter(forward.context, r.value, forward.parameter, forward.cls, functions, modules)
        for r in forward.returns)


class _Forward(NamedTuple):
    """The ``forward`` of a module class of the project, as :func:`_wraps_loss` reads it."""

    #: the file that defines the class
    context: FileContext
    cls: cst.ClassDef
    returns: list[cst.Return]
    #: the name of its first input (after ``self``)
    parameter: str


@node_fact
def _module_forward(context: FileContext, built: cst.Call) -> _Forward | None:
    """The ``forward`` of the module class of the project that ``built`` constructs, when it
    takes an input; asked once per constructor call (four rules ask :func:`loss_call` of each call
    of an object, each for its own kinds of loss, and finding the class may look for files)."""
    found = defined_class(context, built.func)
    if found is None:
        return None
    owner, cls = found
    if not is_module_class(owner, cls):
        return None
    forward = forward_of(owner, cls)
    params = forward.params.params if forward is not None else ()
    if forward is None or len(params) < 2:
        return None
    return _Forward(owner, cls, owner.semantic.scope_for(forward).returns, params[1].name.value)


def _loss_of_parameter(context: FileContext, expr: cst.BaseExpression | None, parameter: str, cls: cst.ClassDef,
                       functions: frozenset[str], modules: frozenset[str]) -> bool:
    """Whether ``expr`` computes the given loss of ``parameter`` as it came in or only rearranged
    (``F.cross_entropy(logits, y)``, ``self.ce(logits.view(-1, c), y)`` with
    ``self.ce = nn.CrossEntropyLoss()``)."""
    if isinstance(expr, cst.Name):
        found = context.semantic.value_at(expr)
        expr = found.expr if found is not None else None
    if not isinstance(expr, cst.Call):
        return False
    prediction = get_arg(expr, "input", 0)
    if prediction is None or not _rearranged_parameter(context, prediction.value, parameter, 0):
        return False
    if refers_to_torch(context, expr.func, functions):
        return True
    inner = constructor(context, expr.func, cls)
    return inner is not None and isinstance(inner.expr, cst.Call) and refers_to_torch(context, inner.expr.func, modules)


def _rearranged_parameter(context: FileContext, expr: cst.BaseExpression, parameter: str, depth: int) -> bool:
    """Whether ``expr`` holds the values of the function's ``parameter`` as it came in, at most
    rearranged or selected: ``predict.transpose(1, 2).contiguous()``, ``predict[mask].view(-1, c)``
    (CrossEntropy2d of speedinghzl/Pytorch-Deeplab's loss.py)."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, cst.Name):
        reaching = context.semantic.reaching(expr.value, expr)
        if expr.value == parameter and reaching and all(b.kind is BindingKind.PARAMETER for b in reaching):
            return True
        found = context.semantic.value_at(expr)
        return found is not None and _rearranged_parameter(context, found.expr, parameter, depth + 1)
    if isinstance(expr, cst.Subscript):
        return _rearranged_parameter(context, expr.value, parameter, depth + 1)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in _VALUE_PRESERVING:
        return _rearranged_parameter(context, expr.func.value, parameter, depth + 1)
    return False


def activated_loss(context: FileContext, call: cst.Call, functions: frozenset[str],
                   modules: frozenset[str]) -> tuple[LossCall, Ending] | None:
    """``call`` as a loss of the given kinds (see :func:`loss_call`) whose prediction ends in an
    activation, with that activation.  Call it during the walk."""
    loss = loss_call(context, call, functions, modules)
    if loss is None:
        return None
    found = ending(context, loss.prediction, context.enclosing(cst.ClassDef))
    return None if found is None else (loss, found)


def _walk_scope(context: FileContext) -> cst.CSTNode:
    return context.enclosing(cst.FunctionDef, cst.Lambda) or context.module

