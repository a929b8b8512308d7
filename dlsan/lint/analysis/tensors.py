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

from dlsan.lint.analysis.bindings import scope_names, value_at
from dlsan.lint.context import FileContext

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


def is_tensor(context: FileContext, expr: cst.BaseExpression, scope: cst.CSTNode, depth: int = 0) -> bool:
    """Whether ``expr``, read in ``scope`` (a function or the module), is known to be a tensor."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, cst.Call):
        return _tensor_call(context, expr, scope, depth)
    if isinstance(expr, cst.Subscript):  # indexing a tensor gives a tensor
        return is_tensor(context, expr.value, scope, depth + 1)
    if isinstance(expr, cst.Name):
        found = value_at(context, expr, scope)
        if found is not None:
            return is_tensor(context, found.expr, found.scope, depth + 1)
        return _annotated_tensor(context, expr, scope) or _parameter_loop_target(context, expr, scope)
    return False


def is_parameter(context: FileContext, expr: cst.BaseExpression, scope: cst.CSTNode) -> bool:
    """Whether ``expr`` is known to be a parameter: a ``for`` target over ``m.parameters()`` /
    ``m.named_parameters()``, or a name assigned ``nn.Parameter(...)``."""
    if isinstance(expr, cst.Call):
        return context.names.matches(expr.func, _PARAMETER_CLASSES)
    if not isinstance(expr, cst.Name):
        return False
    found = value_at(context, expr, scope)
    if found is not None:
        return is_parameter(context, found.expr, found.scope)
    return _parameter_loop_target(context, expr, scope)


def is_torch_tensor_function(context: FileContext, call: cst.Call) -> bool:
    """``torch.zeros(...)``, ``torch.FloatTensor(...)``, ``nn.Parameter(...)``: a tensor is built."""
    for candidate in context.names.candidates(call.func):
        if candidate in _TENSOR_CLASSES:
            return True
        head, _, last = candidate.rpartition(".")
        if head == "torch" and last in _TORCH_FUNCTIONS:
            return True
    return False


def _tensor_call(context: FileContext, call: cst.Call, scope: cst.CSTNode, depth: int) -> bool:
    if is_torch_tensor_function(context, call):
        return True
    func = call.func
    return (isinstance(func, cst.Attribute) and func.attr.value in TENSOR_METHODS
            and context.names.resolve(func.value) is None and is_tensor(context, func.value, scope, depth + 1))


def _annotated_tensor(context: FileContext, name: cst.Name, scope: cst.CSTNode) -> bool:
    if not isinstance(scope, cst.FunctionDef) or name.value in scope_names(context, scope).bindings:
        return False
    params = scope.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.name.value == name.value and param.annotation is not None:
            annotation = param.annotation.annotation
            if isinstance(annotation, cst.SimpleString):
                return annotation.value.strip("'\"") in ("torch.Tensor", "Tensor")
            return context.names.matches(annotation, _TENSOR_CLASSES)
    return False


def _parameter_loop_target(context: FileContext, name: cst.Name, scope: cst.CSTNode) -> bool:
    """``p`` in ``for p in model.parameters():`` or ``for n, p in model.named_parameters():``,
    used in that loop's body with no other binding of ``p`` in between."""
    names = scope_names(context, scope)
    use = names.positions.get(id(name))
    if use is None:
        return False
    loop = None
    for binding in names.bindings.get(name.value, []):
        start = names.positions.get(id(binding.node), -1)
        if isinstance(binding.node, cst.For) and start < use <= binding.position:
            loop = binding.node
        elif start < use and loop is not None and start > names.positions.get(id(loop), -1):
            return False
    if loop is None:
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
