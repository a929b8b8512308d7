"""Whether an expression is known to hold a torch tensor (or parameter): knowing, not guessing.

A value is a tensor when it is

* built by a torch tensor function (``torch.zeros(...)``, ``torch.tensor(...)``, ``torch.cat``,
  ``nn.Parameter(...)``, the legacy ``torch.FloatTensor(...)``), resolved through the file's imports;
* a tensor method's result on a known tensor (``x.float()``, ``x.view(-1)``), or an index of one;
* a name whose one plain assignment is such a value, a parameter annotated ``torch.Tensor`` /
  ``nn.Parameter``, or a ``for`` target over ``m.parameters()`` / ``m.named_parameters()``.

Names alone never make a tensor, and anything else is unknown: rules stay quiet.  (Once the
semantic model's abstract values land, this module's answers move onto them.)
"""

from __future__ import annotations

import libcst as cst

from dlsan.lint.context import FileContext
from dlsan.lint.semantic.scopes import BindingKind

#: ``torch.<name>`` functions that return a tensor
_TORCH_FUNCTIONS = frozenset({
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "rand", "randn", "randint",
    "randperm", "arange", "linspace", "logspace", "eye", "zeros_like", "ones_like", "empty_like",
    "full_like", "rand_like", "randn_like", "cat", "concat", "stack", "hstack", "vstack", "where",
    "matmul", "mm", "bmm", "einsum", "exp", "log", "sigmoid", "tanh", "softmax", "log_softmax",
    "clamp", "abs", "sqrt", "mean", "sum", "normal", "bernoulli", "multinomial", "flatten", "reshape",
    "squeeze", "unsqueeze", "transpose", "permute", "masked_fill", "gather", "index_select",
})
_TENSOR_CLASSES = frozenset({
    "torch.Tensor", "torch.FloatTensor", "torch.DoubleTensor", "torch.HalfTensor", "torch.LongTensor",
    "torch.IntTensor", "torch.ByteTensor", "torch.BoolTensor", "torch.cuda.FloatTensor",
    "torch.cuda.LongTensor", "torch.nn.Parameter", "torch.nn.parameter.Parameter",
})
#: tensor methods whose result is again a tensor
TENSOR_METHODS = frozenset({
    "to", "cuda", "cpu", "float", "double", "half", "bfloat16", "long", "int", "bool", "clone",
    "detach", "contiguous", "view", "view_as", "reshape", "reshape_as", "squeeze", "unsqueeze",
    "flatten", "permute", "transpose", "t", "expand", "expand_as", "repeat", "clamp", "clip", "abs",
    "exp", "log", "sigmoid", "softmax", "log_softmax", "mean", "sum", "type", "type_as", "add",
    "sub", "mul", "div", "pow", "sqrt", "neg", "masked_fill", "narrow", "pin_memory",
})
_PARAMETER_CLASSES = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
_PARAMETER_ITERATORS = {"parameters": None, "named_parameters": 1}
_MAX_DEPTH = 8
#: bindings that update a value in place, keeping what it is
_UPDATES = frozenset({BindingKind.ITEM, BindingKind.AUGMENTED})


def is_tensor(context: FileContext, expr: cst.BaseExpression, depth: int = 0) -> bool:
    """Whether ``expr`` (where it is written) is known to be a tensor."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, cst.Call):
        return _tensor_call(context, expr, depth)
    if isinstance(expr, cst.Subscript):  # indexing a tensor gives a tensor
        return is_tensor(context, expr.value, depth + 1)
    if isinstance(expr, cst.Name):
        found = context.semantic.value_at(expr)
        if found is not None:
            return is_tensor(context, found.expr, depth + 1)
        return (_annotated_tensor(context, expr) or _parameter_loop_target(context, expr)
                or _updated_tensor(context, expr, depth))
    return False


def _updated_tensor(context: FileContext, name: cst.Name, depth: int) -> bool:
    """A tensor updated in place since its assignment (``x[i] = v``, ``x += v`` keep it a tensor):
    every plain binding reaching the use is a tensor."""
    reaching = context.semantic.reaching(name.value, name)
    replacing = [b for b in reaching if b.kind not in _UPDATES]
    return (bool(replacing) and len(replacing) < len(reaching) and all(b.is_plain for b in replacing)
            and all(is_tensor(context, b.value, depth + 1) for b in replacing if b.value is not None))


def is_parameter(context: FileContext, expr: cst.BaseExpression, depth: int = 0) -> bool:
    """Whether ``expr`` is known to be a parameter: a ``for`` target over ``m.parameters()`` /
    ``m.named_parameters()``, or a name assigned ``nn.Parameter(...)``."""
    if isinstance(expr, cst.Call):
        return context.names.matches(expr.func, _PARAMETER_CLASSES)
    if not isinstance(expr, cst.Name) or depth > _MAX_DEPTH:
        return False
    found = context.semantic.value_at(expr)
    if found is not None:
        return is_parameter(context, found.expr, depth + 1)
    return _parameter_loop_target(context, expr)


def is_torch_tensor_function(context: FileContext, call: cst.Call) -> bool:
    """``torch.zeros(...)``, ``torch.FloatTensor(...)``, ``nn.Parameter(...)``: a tensor is built."""
    for candidate in context.names.candidates(call.func):
        if candidate in _TENSOR_CLASSES:
            return True
        head, _, last = candidate.rpartition(".")
        if head == "torch" and last in _TORCH_FUNCTIONS:
            return True
    return False


def _tensor_call(context: FileContext, call: cst.Call, depth: int) -> bool:
    if is_torch_tensor_function(context, call):
        return True
    func = call.func
    return (isinstance(func, cst.Attribute) and func.attr.value in TENSOR_METHODS
            and context.names.resolve(func.value) is None and is_tensor(context, func.value, depth + 1))


def _annotated_tensor(context: FileContext, name: cst.Name) -> bool:
    """A function parameter annotated ``torch.Tensor`` (or ``nn.Parameter``), not rebound."""
    reaching = context.semantic.reaching(name.value, name)
    if len(reaching) != 1 or reaching[0].kind is not BindingKind.PARAMETER:
        return False
    param = reaching[0].node
    if not isinstance(param, cst.Param) or param.annotation is None:
        return False
    annotation = param.annotation.annotation
    if isinstance(annotation, cst.SimpleString):
        return annotation.value.strip("'\"") in ("torch.Tensor", "Tensor")
    return context.names.matches(annotation, _TENSOR_CLASSES)


def _parameter_loop_target(context: FileContext, name: cst.Name) -> bool:
    """``p`` in ``for p in model.parameters():`` or ``for n, p in model.named_parameters():``,
    when that loop's target is the only binding reaching the use."""
    reaching = context.semantic.reaching(name.value, name)
    if len(reaching) != 1 or reaching[0].kind is not BindingKind.FOR_TARGET:
        return False
    loop = reaching[0].node
    if not isinstance(loop, cst.For):
        return False
    iterable = loop.iter
    if not (isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Attribute)
            and iterable.func.attr.value in _PARAMETER_ITERATORS):
        return False
    index = _PARAMETER_ITERATORS[iterable.func.attr.value]
    target = loop.target
    if index is None:
        return isinstance(target, cst.Name) and target.value == name.value
    return (isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2
            and isinstance(target.elements[index].value, cst.Name)
            and target.elements[index].value.value == name.value)  # type: ignore[attr-defined]
