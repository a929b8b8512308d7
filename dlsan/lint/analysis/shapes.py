"""Local shape inference: what shape does a tensor expression have, as far as this file says?

A small symbolic lattice, computed per function (or module) and only when a rule asks:

* a :class:`Shape` is a tuple of dims; a dim is an ``int``, a symbol (``"N"``, ``"batch_size"``,
  the source of a size expression), or ``None`` (unknown).  Symbols are assumed to be sizes other
  than 1 (a batch, a feature count); ``None`` may be anything, 1 included.
* an inexact shape (``exact=False``) knows only its trailing dims: more may lead.
* ``None`` instead of a shape means "cannot tell"; every rule built on this module stays quiet then.

Sources of shapes: literal constructors (``torch.randn(N, 1)``, ``zeros/ones/rand/empty/full/
tensor([...])/linspace/arange/eye`` and ``*_like``), shape-changing methods (``view/reshape/
unsqueeze/squeeze/flatten/permute/transpose/.T/expand``), indexing (``x[:, None]``, ``x[..., 0]``),
reductions with and without ``keepdim``, element-wise arithmetic (broadcasting), ``@``, and layers:
``nn.Linear(k, n)``, ``nn.Sequential(...)`` folded layer by layer, and ``nn.Module`` classes of the
same file, whose ``forward`` return value is inferred the same way (its input unknown).

Names are followed to their latest plain assignment before the use in the same function (then to
a single module-level assignment), as :meth:`~dlsan.lint.semantic.SemanticModel.value_at` says;
``self.layer`` to the class's only assignment to it (:func:`~dlsan.lint.semantic.objects.attribute_value`).  A layer applied to a
tensor of unknown shape is assumed to receive a batch: ``nn.Linear(h, 1)(x)`` is ``(batch, 1)``
with possibly more leading dims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union, cast

import libcst as cst

from dlsan.lint.analysis.functions import file_index, is_module_class
from dlsan.lint.calls import (
    get_arg,
    has_unpacking,
    keyword_arg,
    numeric_value,
    positional_args,
)
from dlsan.lint.catalog.torch_api import SELF_RETURNING, SEQUENTIAL
from dlsan.lint.context import FileContext
from dlsan.lint.names import dotted_name
from dlsan.lint.semantic.objects import attribute_value

Dim = Union[int, str, None]


@dataclass(frozen=True)
class Shape:
    dims: tuple[Dim, ...]
    #: False when more (unknown) dims may lead the known ones
    exact: bool = True
    #: positions, counted from the right (-1 = last), of singleton dims inserted on purpose with
    #: ``x[:, None]`` or ``unsqueeze``: a broadcast over them is intended
    explicit: frozenset[int] = frozenset()

    def __str__(self) -> str:
        inner = ", ".join("?" if d is None else str(d) for d in self.dims)
        if len(self.dims) == 1 and self.exact:
            inner += ","
        return f"(..., {inner})" if not self.exact else f"({inner})"

    @property
    def rank(self) -> int | None:
        return len(self.dims) if self.exact else None


SCALAR = Shape(())
#: some tensor, nothing known about its dims
UNKNOWN = Shape((), exact=False)
#: the symbol for the batch dim a layer applied to an input of unknown shape is assumed to get
BATCH = "batch"


def _not_one(dim: Dim) -> bool:
    """The dim is known (or assumed, for a symbol) to differ from 1."""
    return isinstance(dim, str) or (isinstance(dim, int) and dim != 1)


def _positions(a: Shape, b: Shape) -> range:
    return range(1, max(len(a.dims), len(b.dims)) + 1)


def _dim_from_right(shape: Shape, position: int) -> Dim | bool:
    """The dim at ``-position``; ``False`` when the shape has no such dim, ``None`` when unknown."""
    if position <= len(shape.dims):
        return shape.dims[-position]
    return False if shape.exact else None


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """The broadcast of two shapes; ``None`` when they certainly clash or cannot be told apart."""
    dims: list[Dim] = []
    for position in _positions(a, b):
        left, right = _dim_from_right(a, position), _dim_from_right(b, position)
        if left is False:
            dims.append(right)
        elif right is False:
            dims.append(left)
        elif left == 1:
            dims.append(right)
        elif right == 1 or left == right:
            dims.append(left)
        elif isinstance(left, int) and isinstance(right, int):
            return None
        else:
            dims.append(left if left is not None else right)
    explicit = frozenset(p for p in a.explicit | b.explicit if p <= len(dims) and dims[-p] == 1)
    return Shape(tuple(reversed(dims)), a.exact and b.exact, explicit)


def expanded_positions(a: Shape, b: Shape) -> set[int]:
    """Positions (from the right) where broadcasting against ``b`` certainly stretches ``a``.

    A dim of ``a`` is stretched when it is 1 (or missing, ``a`` being exact and shorter) and ``b``'s
    dim there is not 1.
    """
    stretched: set[int] = set()
    for position in _positions(a, b):
        mine, theirs = _dim_from_right(a, position), _dim_from_right(b, position)
        if (mine is False or mine == 1) and theirs is not False and _not_one(theirs):
            stretched.add(position)
    return stretched


def broadcasts_both_ways(a: Shape, b: Shape, *, allow_outer: bool = True) -> bool:
    """Whether each operand is stretched by the other (``(N,)`` with ``(N, 1)`` gives ``(N, N)``).

    With ``allow_outer``, what looks like an intended outer product is not reported: a stretch
    over a singleton inserted on purpose (``u[:, None]``), or operands whose sizes are known to
    be different quantities (``(max_len, 1)`` with ``(d_model,)``).
    """
    if broadcast(a, b) is None:
        return False
    stretched_a, stretched_b = expanded_positions(a, b), expanded_positions(b, a)
    if not stretched_a or not stretched_b:
        return False
    if allow_outer and (stretched_a & a.explicit or stretched_b & b.explicit or _distinct_extents(a, b)):
        return False
    return True


def _is_fresh(dim: Dim) -> bool:
    """A symbol the inference made up (a batch, a flattened size): it may equal any other size."""
    return isinstance(dim, str) and (dim == BATCH or dim.startswith("numel("))


def _distinct_extents(a: Shape, b: Shape) -> bool:
    """Both shapes are fully known and their non-singleton sizes differ: ``(N, 1)`` against
    ``(M,)`` is an outer product of two different things, ``(N, 1)`` against ``(N,)`` is not."""
    sizes = []
    for shape in (a, b):
        kept = [d for d in shape.dims if d != 1]
        if not shape.exact or any(d is None or _is_fresh(d) for d in kept):
            return False
        sizes.append(sorted(str(d) for d in kept))
    return sizes[0] != sizes[1]


# -- qualified names ------------------------------------------------------------------------------

_CONSTRUCTORS = frozenset(f"torch.{n}" for n in ("randn", "rand", "zeros", "ones", "empty", "randint"))
_LIKE = frozenset(f"torch.{n}_like" for n in ("randn", "rand", "zeros", "ones", "empty", "full", "randint"))
_POINTWISE_FUNCTIONS = frozenset(
    [f"torch.{n}" for n in ("sigmoid", "tanh", "relu", "exp", "log", "abs", "sqrt", "rsqrt", "neg",
                            "clamp", "clip", "softmax", "log_softmax", "square", "sin", "cos",
                            "log1p", "expm1", "sign", "round", "floor", "ceil", "detach")]
    + [f"torch.nn.functional.{n}" for n in ("relu", "sigmoid", "tanh", "gelu", "silu", "elu",
                                             "leaky_relu", "softmax", "log_softmax", "dropout",
                                             "softplus", "normalize", "layer_norm", "logsigmoid")]
)
_SAME_SHAPE_METHODS = frozenset({
    "float", "double", "half", "bfloat16", "long", "int", "bool", "to", "cuda", "cpu", "detach",
    "clone", "contiguous", "requires_grad_", "type", "type_as", "abs", "exp", "log", "sqrt",
    "rsqrt", "sigmoid", "tanh", "relu", "neg", "clamp", "clamp_min", "clamp_max", "clip", "pow",
    "softmax", "log_softmax", "square", "log1p", "expm1", "sign", "round", "floor", "ceil",
    "exp_", "sigmoid_", "relu_", "clamp_", "masked_fill", "fill_", "zero_", "normal_", "uniform_",
    "nan_to_num",
})
#: tensor methods for element-wise arithmetic with one other operand (``x.sub(m)``)
ARITHMETIC_METHODS = frozenset({"add", "sub", "mul", "div", "true_divide", "add_", "sub_", "mul_", "div_"})
_REDUCTIONS = frozenset({"sum", "mean", "nansum", "nanmean", "amax", "amin", "logsumexp", "prod",
                         "std", "var", "all", "any", "argmax", "argmin", "norm"})
#: reductions that return ``(values, indices)`` when given a dim
_PAIR_REDUCTIONS = frozenset({"max", "min", "median", "nanmedian", "mode"})

_LINEAR = frozenset({"torch.nn.Linear", "torch.nn.LazyLinear"})
_POINTWISE_LAYERS = frozenset(f"torch.nn.{n}" for n in (
    "ReLU", "ReLU6", "Sigmoid", "Tanh", "GELU", "SiLU", "ELU", "SELU", "LeakyReLU", "PReLU",
    "Softplus", "Softmax", "LogSoftmax", "Dropout", "AlphaDropout", "Identity", "LayerNorm",
    "BatchNorm1d", "Hardtanh", "Mish", "Hardswish", "Softsign", "Tanhshrink",
))


# -- the inference ---------------------------------------------------------------------------------


def shape_of(context: FileContext, expr: cst.BaseExpression, scope: cst.CSTNode, *, enclosing_class: cst.ClassDef | None = None) -> Shape | None:
    """The inferred shape of ``expr`` (evaluated in ``scope``), or ``None`` when unknown."""
    return _Inference(context, scope, enclosing_class).shape(expr)


class _Inference:
    def __init__(self, context: FileContext, scope: cst.CSTNode, owner: cst.ClassDef | None) -> None:
        self.context = context
        self.scope = scope
        self.owner = owner if owner is not None else _owner_class(context, scope)
        self.names = context.names

    def shape(self, expr: cst.BaseExpression) -> Shape | None:
        """Cached per file (an expression belongs to exactly one scope); an expression met again
        while its own shape is being computed (``x = x + 1`` in a loop, a forward that calls
        itself) reads as unknown."""
        active: set[int] = self.context.fact("shapes.active", set)
        if id(expr) in active:
            return None
        active.add(id(expr))
        try:
            return self.context.fact(("shapes.shape", id(expr)), lambda: self._compute(expr))
        finally:
            active.discard(id(expr))

    def _compute(self, expr: cst.BaseExpression) -> Shape | None:
        if isinstance(expr, (cst.Integer, cst.Float)):
            return SCALAR
        if isinstance(expr, cst.UnaryOperation):
            return self.shape(expr.expression)
        if isinstance(expr, cst.Name):
            found = self.context.semantic.value_at(expr)
            if found is None:
                return None
            scope = self.context.semantic.function_of(found.expr).node
            if scope is not self.scope:
                return _Inference(self.context, scope, None).shape(found.expr)
            return self.shape(found.expr)
        if isinstance(expr, cst.BinaryOperation):
            return self._binary(expr)
        if isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1:
            return self._elementwise(expr.left, expr.comparisons[0].comparator)
        if isinstance(expr, cst.Attribute):
            return self._attribute(expr)
        if isinstance(expr, cst.Subscript):
            return self._subscript(expr)
        if isinstance(expr, cst.Call):
            return self._call(expr)
        return None

    def _binary(self, expr: cst.BinaryOperation) -> Shape | None:
        if isinstance(expr.operator, cst.MatrixMultiply):
            left, right = self.shape(expr.left), self.shape(expr.right)
            return _matmul(left, right) if left is not None and right is not None else None
        return self._elementwise(expr.left, expr.right)

    def _elementwise(self, left_expr: cst.BaseExpression, right_expr: cst.BaseExpression) -> Shape | None:
        left = self.shape(left_expr)
        if left is None:
            return None
        right = self.shape(right_expr)
        return broadcast(left, right) if right is not None else None

    def _attribute(self, expr: cst.Attribute) -> Shape | None:
        attr = expr.attr.value
        if attr in ("T", "mT", "data"):
            base = self.shape(expr.value)
            if base is None:
                return None
            if attr == "data":
                return base
            if not base.exact and attr == "T":
                return None
            if attr == "mT":
                return _transpose(base, -2, -1)
            return Shape(tuple(reversed(base.dims)))
        if attr == "values" and isinstance(expr.value, cst.Call):
            return self._reduction(expr.value, pair=True)
        return None

    # -- calls ---------------------------------------------------------------------------------

    def _call(self, call: cst.Call) -> Shape | None:
        qualified = self.names.candidates(call.func)
        if qualified:
            found = self._torch_function(call, set(qualified))
            if found is not None:
                return found
        if isinstance(call.func, cst.Attribute) and self.names.resolve(call.func.value) is None:
            method = call.func.attr.value
            if method in _SAME_SHAPE_METHODS:
                return self.shape(call.func.value)
            base = self.shape(call.func.value)
            if base is None and method in ("view", "reshape", "flatten"):
                base = UNKNOWN  # flattening anything gives one dim
            if base is not None:
                return self._method(call, method, base)
        return self._layer_call(call)

    def _torch_function(self, call: cst.Call, qualified: set[str]) -> Shape | None:
        args = positional_args(call)
        if qualified & _CONSTRUCTORS:
            return self._sizes(call, args, "torch.randint" in qualified)
        if qualified & _LIKE:
            return self.shape(args[0].value) if args else None
        if "torch.full" in qualified:
            return self._size_argument(args[0].value) if args else None
        if qualified & {"torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.FloatTensor"}:
            return _literal_shape(args[0].value) if args else None
        if qualified & {"torch.linspace", "torch.logspace"}:
            steps = get_arg(call, "steps", 2)
            return Shape((self._dim(steps.value),)) if steps is not None else None
        if "torch.arange" in qualified:
            return self._arange(args)
        if "torch.eye" in qualified and args:
            n = self._dim(args[0].value)
            return Shape((n, self._dim(args[1].value) if len(args) > 1 else n))
        if qualified & _POINTWISE_FUNCTIONS:
            return self.shape(args[0].value) if args else None
        if qualified & {"torch.matmul", "torch.mm"} and len(args) == 2:
            left, right = self.shape(args[0].value), self.shape(args[1].value)
            return _matmul(left, right) if left is not None and right is not None else None
        names = {q[len("torch."):] for q in qualified if q.startswith("torch.") and q.count(".") == 1}
        for name in names & (_REDUCTIONS | _PAIR_REDUCTIONS):
            if name in _PAIR_REDUCTIONS and get_arg(call, "dim", 1) is not None:
                return None  # (values, indices)
            return self._reduction(call, pair=False)
        if names & {"unsqueeze", "squeeze", "flatten", "reshape", "transpose", "permute"} and args:
            base = self.shape(args[0].value)
            if base is not None:
                return self._method(call, next(iter(names)), base, offset=1)
        return None

    def _method(self, call: cst.Call, method: str, base: Shape, offset: int = 0) -> Shape | None:
        args = positional_args(call)[offset:]
        if method in ("view", "reshape", "expand"):
            if len(args) == 1 and _is_size_object(args[0].value):
                return self._size_object_shape(args[0].value)
            sizes = _size_args(args) if not keyword_arg(call, "size") else None
            return self._reshape(base, sizes, expand=method == "expand", source=cast(cst.Attribute, call.func).value)
        if method in ("view_as", "reshape_as", "expand_as") and args:
            return self.shape(args[0].value)
        if method in ARITHMETIC_METHODS and len(args) == 1:
            other = self.shape(args[0].value)
            return broadcast(base, other) if other is not None else None
        if method == "unsqueeze":
            dim = _int_arg(call, "dim", offset)
            return _unsqueeze(base, dim) if dim is not None else None
        if method == "squeeze":
            return _squeeze(base, _int_arg(call, "dim", offset), has_dim=bool(args) or keyword_arg(call, "dim") is not None)
        if method == "flatten":
            start, end = _int_arg(call, "start_dim", offset), _int_arg(call, "end_dim", offset + 1)
            start = 0 if start is None and not args and keyword_arg(call, "start_dim") is None else start
            end = -1 if end is None and len(args) < 2 and keyword_arg(call, "end_dim") is None else end
            if base is UNKNOWN and start == 0 and end == -1:
                return Shape((f"numel({self.context.code(cast(cst.Attribute, call.func).value)})",))
            return _flatten(base, start, end)
        if method in ("t", "transpose"):
            if method == "t":
                return _transpose(base, 0, -1) if base.exact and len(base.dims) <= 2 else None
            first, second = _int_arg(call, "dim0", offset), _int_arg(call, "dim1", offset + 1)
            return _transpose(base, first, second) if first is not None and second is not None else None
        if method == "permute":
            order = [_int(a.value) for a in args]
            if len(order) == 1 and isinstance(args[0].value, (cst.Tuple, cst.List)):
                order = [_int(e.value) for e in args[0].value.elements]
            return _permute(base, order)
        if method in _REDUCTIONS or method in _PAIR_REDUCTIONS:
            if method in _PAIR_REDUCTIONS and get_arg(call, "dim", 0) is not None:
                return None
            return self._reduction(call, pair=False)
        return None

    def _reduction(self, call: cst.Call, *, pair: bool) -> Shape | None:
        spec = reduction_of(self.context, call)
        if spec is None or spec.pair != pair:
            return None
        base = self.shape(spec.input)
        if base is None:
            return None
        if spec.dims is None:
            return SCALAR if not spec.keepdim else None
        return reduce_shape(base, spec.dims, spec.keepdim)

    def _layer_call(self, call: cst.Call) -> Shape | None:
        args = positional_args(call)
        if len(args) != 1 or call.args[0] is not args[0]:
            return None
        layer = self._resolve_layer(call.func)
        if layer is None:
            return None
        return self._apply_layer(layer, self.shape(args[0].value))

    # -- layers --------------------------------------------------------------------------------

    def _resolve_layer(self, func: cst.BaseExpression) -> cst.BaseExpression | cst.ClassDef | None:
        """What a called expression is: a layer constructor call, or a same-file Module class."""
        for _ in range(8):
            if isinstance(func, cst.Name) and func.value == "self" and self.owner is not None:
                return self.owner
            if isinstance(func, cst.Name):
                found = self.context.semantic.value_at(func)
            elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
                found = attribute_value(self.context, self.owner, func.attr.value) if self.owner is not None else None
            elif (isinstance(func, cst.Call) and isinstance(func.func, cst.Attribute)
                  and func.func.attr.value in SELF_RETURNING):
                func = func.func.value
                continue
            elif isinstance(func, cst.Call):
                local = _local_module_class(self.context, func.func)
                return local if local is not None else func
            else:
                return None
            if found is None:
                return None
            func = found.expr
        return None

    def _apply_layer(self, layer: cst.BaseExpression | cst.ClassDef, given: Shape | None) -> Shape | None:
        if isinstance(layer, cst.ClassDef):
            return _forward_shape(self.context, layer)
        if not isinstance(layer, cst.Call):
            return None
        local = _local_module_class(self.context, layer.func)
        if local is not None:
            return self._apply_layer(local, given)
        kind = set(self.names.candidates(layer.func))
        if kind & _LINEAR:
            out = get_arg(layer, "out_features", 1 if kind & {"torch.nn.Linear", "torch.nn.modules.linear.Linear"} else 0)
            if out is None:
                return None
            features = self._dim(out.value)
            if given is None:
                return Shape((BATCH, features), exact=False)
            if not given.dims:
                return None
            return Shape((*given.dims[:-1], features), given.exact)
        if kind & _POINTWISE_LAYERS:
            return given
        if SEQUENTIAL in kind:
            shape = given
            for arg in layer.args:
                if arg.star or arg.keyword is not None:
                    return None
                shape = self._apply_layer(arg.value, shape) if isinstance(arg.value, cst.Call) else None
            return shape
        return None

    # -- sizes ---------------------------------------------------------------------------------

    def _dim(self, node: cst.BaseExpression) -> Dim:
        value = numeric_value(node)
        if value is not None:
            return int(value) if value == int(value) and value >= 0 else None
        if isinstance(node, cst.Name):
            bound = self.context.semantic.value_at(node)
            if bound is not None and isinstance(bound.expr, cst.Integer):
                return int(bound.expr.evaluated_value)
        size = self._size_of_tensor(node)
        if size is not False:
            return size
        return self.context.code(node)

    def _size_of_tensor(self, node: cst.BaseExpression) -> Dim | bool:
        """``x.size(0)`` / ``x.shape[0]`` of a tensor of known shape; ``False`` when not that form."""
        tensor, index = None, None
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "size":
            args = positional_args(node)
            if len(args) == 1:
                tensor, index = node.func.value, _int(args[0].value)
        elif (isinstance(node, cst.Subscript) and isinstance(node.value, cst.Attribute)
              and node.value.attr.value == "shape" and len(node.slice) == 1
              and isinstance(node.slice[0].slice, cst.Index)):
            tensor, index = node.value.value, _int(node.slice[0].slice.value)
        if tensor is None or index is None:
            return False
        shape = self.shape(tensor)
        if shape is None:
            return False
        if index < 0 and -index <= len(shape.dims):
            return shape.dims[index]
        if shape.exact and 0 <= index < len(shape.dims):
            return shape.dims[index]
        return False

    def _sizes(self, call: cst.Call, args: list[cst.Arg], randint: bool) -> Shape | None:
        if has_unpacking(call):
            return None
        size = keyword_arg(call, "size")
        if size is not None:
            return self._size_argument(size.value)
        if randint:
            return self._size_argument(args[-1].value) if args else None
        if len(args) == 1 and (isinstance(args[0].value, (cst.Tuple, cst.List)) or _is_size_object(args[0].value)):
            return self._size_argument(args[0].value)
        if not args or any(isinstance(a.value, (cst.Tuple, cst.List)) for a in args):
            return None
        return Shape(tuple(self._dim(a.value) for a in args))

    def _size_argument(self, node: cst.BaseExpression) -> Shape | None:
        if isinstance(node, (cst.Tuple, cst.List)):
            if any(not isinstance(e, cst.Element) for e in node.elements):
                return None
            return Shape(tuple(self._dim(e.value) for e in node.elements))
        if _is_size_object(node):
            return self._size_object_shape(node)
        return None

    def _size_object_shape(self, node: cst.BaseExpression) -> Shape | None:
        """``y.shape`` / ``y.size()``: ``y``'s shape; other size objects are unknown."""
        tensor = None
        if isinstance(node, cst.Attribute) and node.attr.value == "shape":
            tensor = node.value
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and not node.args:
            tensor = node.func.value
        shape = self.shape(tensor) if tensor is not None else None
        return Shape(shape.dims) if shape is not None and shape.exact else None

    def _arange(self, args: list[cst.Arg]) -> Shape | None:
        if len(args) == 1:
            return Shape((self._dim(args[0].value),))
        if len(args) == 2:
            start, stop = numeric_value(args[0].value), numeric_value(args[1].value)
            if start is not None and stop is not None and stop > start:
                return Shape((math.ceil(stop - start),))
        return None

    def _reshape(self, base: Shape, sizes: list[cst.BaseExpression] | None, *, expand: bool, source: cst.CSTNode) -> Shape | None:
        if not sizes:
            return None
        dims: list[Dim] = []
        wildcard = None
        for index, node in enumerate(sizes):
            value = numeric_value(node)
            if value == -1:
                if expand:
                    if not base.exact or len(base.dims) != len(sizes):
                        return None
                    dims.append(base.dims[index])
                    continue
                wildcard = index
                dims.append(None)
            else:
                dims.append(self._dim(node))
        if wildcard is not None:
            dims[wildcard] = _remaining(base, dims, self.context.code(source))
        return Shape(tuple(dims))

    # -- indexing ------------------------------------------------------------------------------

    def _subscript(self, expr: cst.Subscript) -> Shape | None:
        if isinstance(expr.value, cst.Attribute) and expr.value.attr.value == "shape":
            return None
        base = self.shape(expr.value)
        if base is None:
            return None
        return _index(base, [element.slice for element in expr.slice])


def called_layer(context: FileContext, func: cst.BaseExpression, scope: cst.CSTNode) -> cst.BaseExpression | cst.ClassDef | None:
    """What a called expression is, following names, ``self.<attr>`` and ``.to(device)``: the
    constructor call of a layer or loss (``nn.MSELoss()``), or a same-file Module class."""
    return _Inference(context, scope, None)._resolve_layer(func)


def _owner_class(context: FileContext, scope: cst.CSTNode) -> cst.ClassDef | None:
    if not isinstance(scope, cst.FunctionDef):
        return None
    for cls in file_index(context).classes.values():
        if any(item is scope for item in cls.body.body):
            return cls
    return None


def _local_module_class(context: FileContext, func: cst.BaseExpression) -> cst.ClassDef | None:
    if not isinstance(func, cst.Name):
        return None
    cls = file_index(context).classes.get(func.value)
    return cls if cls is not None and is_module_class(context, cls) else None


def _forward_shape(context: FileContext, cls: cst.ClassDef) -> Shape | None:
    """The shape a same-file Module's ``forward`` returns for an input of unknown shape (a class
    whose forward reaches itself again reads as unknown: expressions in progress are unknown)."""

    def compute() -> Shape | None:
        forward = file_index(context).methods.get(cls.name.value, {}).get("forward")
        if forward is None:
            return None
        returns = context.semantic.scope_for(forward).returns
        if len(returns) != 1 or returns[0].value is None:
            return None
        inference = _Inference(context, forward, cls)
        return inference.shape(returns[0].value)

    return context.fact(("shapes.forward", id(cls)), compute)


# -- pure shape arithmetic -------------------------------------------------------------------------


_SIZE_NAMES = frozenset({"size", "sizes", "dims"})


def _is_size_object(node: cst.BaseExpression) -> bool:
    """A whole size rather than one dim: ``x.shape``, ``x.size()``, or a name such as ``shape``."""
    if isinstance(node, cst.Call):
        return isinstance(node.func, cst.Attribute) and node.func.attr.value == "size" and not node.args
    name = dotted_name(node)
    last = name.rsplit(".", 1)[-1].lower() if name is not None else ""
    return last in _SIZE_NAMES or last.endswith("shape")


def _int(node: cst.BaseExpression) -> int | None:
    value = numeric_value(node)
    return int(value) if value is not None and value == int(value) else None


def _int_arg(call: cst.Call, name: str, position: int) -> int | None:
    arg = get_arg(call, name, position)
    return _int(arg.value) if arg is not None else None


def _size_args(args: list[cst.Arg]) -> list[cst.BaseExpression] | None:
    if len(args) == 1 and isinstance(args[0].value, (cst.Tuple, cst.List)):
        elements = args[0].value.elements
        return None if any(not isinstance(e, cst.Element) for e in elements) else [e.value for e in elements]
    return [a.value for a in args]


def _normalize(dim: int, rank: int) -> int | None:
    index = dim + rank if dim < 0 else dim
    return index if 0 <= index < rank else None


def reduce_shape(base: Shape, dims: tuple[int, ...], keepdim: bool) -> Shape | None:
    """The shape of a reduction of ``base`` over ``dims``."""
    if not base.exact:
        if any(d >= 0 or -d > len(base.dims) for d in dims):
            return None
        positions = {len(base.dims) + d for d in dims}
    else:
        normalized = [_normalize(d, len(base.dims)) for d in dims]
        if any(n is None for n in normalized):
            return None
        positions = set(normalized)  # type: ignore[arg-type]
    kept = [1 if i in positions else d for i, d in enumerate(base.dims) if keepdim or i not in positions]
    return Shape(tuple(kept), base.exact)


def _unsqueeze(base: Shape, dim: int) -> Shape | None:
    if dim < 0:
        position = len(base.dims) + 1 + dim
        if position < 0 or (not base.exact and position == 0 and dim != -1):
            return None
    else:
        if not base.exact or dim > len(base.dims):
            return None
        position = dim
    dims = (*base.dims[:position], 1, *base.dims[position:])
    from_right = len(dims) - position
    return Shape(dims, base.exact, frozenset({from_right} | {p for p in base.explicit if p < from_right}
                                             | {p + 1 for p in base.explicit if p >= from_right}))


def _squeeze(base: Shape, dim: int | None, *, has_dim: bool) -> Shape | None:
    if has_dim:
        if dim is None:
            return None
        index = _normalize(dim, len(base.dims)) if base.exact else (len(base.dims) + dim if dim < 0 else None)
        if index is None or index < 0:
            return None
        current = base.dims[index]
        if current is None:
            return None
        return Shape(base.dims[:index] + base.dims[index + 1:], base.exact) if current == 1 else base
    if not base.exact or any(d is None for d in base.dims):
        return None
    return Shape(tuple(d for d in base.dims if d != 1))


def _flatten(base: Shape, start: int | None, end: int | None) -> Shape | None:
    if start is None or end is None or not base.exact:
        return None
    rank = len(base.dims)
    if rank == 0:
        return Shape((1,))
    first, last = _normalize(start, rank), _normalize(end, rank)
    if first is None or last is None or first > last:
        return None
    merged = _product(base.dims[first:last + 1])
    return Shape((*base.dims[:first], merged, *base.dims[last + 1:]))


def _product(dims: tuple[Dim, ...]) -> Dim:
    if any(d is None for d in dims):
        return None
    numbers = [d for d in dims if isinstance(d, int)]
    symbols = sorted(d for d in dims if isinstance(d, str))
    total = math.prod(numbers)
    if not symbols:
        return total
    if total == 1 and len(symbols) == 1:
        return symbols[0]
    return "*".join([*([str(total)] if total != 1 else []), *symbols])


def _remaining(base: Shape, dims: list[Dim], source: str) -> Dim:
    """The size ``-1`` stands for in ``view``/``reshape``."""
    others = [d for d in dims if d is not None]
    if not base.exact:
        return f"numel({source})" if all(d == 1 for d in others) else None
    if any(d is None for d in base.dims):
        return None
    symbols = [d for d in base.dims if isinstance(d, str)]
    number = math.prod(d for d in base.dims if isinstance(d, int))
    for other in others:
        if isinstance(other, str):
            if other not in symbols:
                return None
            symbols.remove(other)
        elif other == 0 or number % other:
            return None
        else:
            number //= other
    return _product((number, *symbols))


def _transpose(base: Shape, first: int, second: int) -> Shape | None:
    if base.exact:
        a, b = _normalize(first, len(base.dims)), _normalize(second, len(base.dims))
    elif first < 0 and second < 0 and max(-first, -second) <= len(base.dims):
        a, b = len(base.dims) + first, len(base.dims) + second
    else:
        return None
    if a is None or b is None:
        return None
    dims = list(base.dims)
    dims[a], dims[b] = dims[b], dims[a]
    return Shape(tuple(dims), base.exact)


def _permute(base: Shape, order: list[int | None]) -> Shape | None:
    if not base.exact or len(order) != len(base.dims) or any(o is None for o in order):
        return None
    normalized = [_normalize(o, len(base.dims)) for o in order]  # type: ignore[arg-type]
    if None in normalized or len(set(normalized)) != len(normalized):
        return None
    return Shape(tuple(base.dims[i] for i in normalized))  # type: ignore[index]


def _matmul(left: Shape, right: Shape) -> Shape | None:
    if not (left.exact and right.exact) or not left.dims or not right.dims:
        return None
    if len(left.dims) == 2 and len(right.dims) == 2:
        return Shape((left.dims[0], right.dims[1]))
    if len(left.dims) == 2 and len(right.dims) == 1:
        return Shape((left.dims[0],))
    if len(left.dims) == 1 and len(right.dims) == 2:
        return Shape((right.dims[1],))
    if len(left.dims) == 1 and len(right.dims) == 1:
        return SCALAR
    return None


def _slice_length(node: cst.Slice, dim: Dim) -> Dim:
    if node.step is not None:
        return None
    lower = _int(node.lower) if node.lower is not None else 0
    upper = _int(node.upper) if node.upper is not None else None
    if lower is None or (node.upper is not None and upper is None):
        return None
    if upper is None:
        if lower == 0:
            return dim
        return -lower if lower < 0 else None
    if lower >= 0 and upper > lower:
        return upper - lower
    return None


def _index(base: Shape, items: list[cst.BaseSlice]) -> Shape | None:
    """``x[...]`` with ``None``, ``...``, ints and slices."""
    def kind(item: cst.BaseSlice) -> str:
        if isinstance(item, cst.Slice):
            return "slice"
        value = item.value  # type: ignore[attr-defined]
        if isinstance(value, cst.Name) and value.value == "None":
            return "new"
        if isinstance(value, cst.Ellipsis):
            return "ellipsis"
        return "int" if _int(value) is not None else "other"

    kinds = [kind(item) for item in items]
    if "other" in kinds or kinds.count("ellipsis") > 1:
        return None
    if "ellipsis" in kinds:
        split = kinds.index("ellipsis")
        head, tail = list(zip(items, kinds))[:split], list(zip(items, kinds))[split + 1:]
    else:
        head, tail = list(zip(items, kinds)), []
    consumed_head = sum(k != "new" for _, k in head)
    consumed_tail = sum(k != "new" for _, k in tail)
    if consumed_head + consumed_tail > len(base.dims):
        return None
    if head and not base.exact:
        return None
    middle_end = len(base.dims) - consumed_tail
    dims: list[Dim] = []
    explicit_from_left: list[int] = []
    position = 0

    def apply(pairs: list[tuple[cst.BaseSlice, str]]) -> None:
        nonlocal position
        for item, k in pairs:
            if k == "new":
                explicit_from_left.append(len(dims))
                dims.append(1)
            elif k == "int":
                position += 1
            else:
                dims.append(_slice_length(item, base.dims[position]))  # type: ignore[arg-type]
                position += 1

    apply(head)
    dims.extend(base.dims[position:middle_end])
    position = middle_end
    apply(tail)
    explicit = frozenset(len(dims) - i for i in explicit_from_left)
    return Shape(tuple(dims), base.exact, explicit)


def _literal_shape(node: cst.BaseExpression) -> Shape | None:
    """The shape of a nested list/tuple literal (``torch.tensor([[1, 2], [3, 4]])``)."""
    if numeric_value(node) is not None or isinstance(node, cst.Name) and node.value in ("True", "False"):
        return SCALAR
    if not isinstance(node, (cst.List, cst.Tuple)):
        return None
    if any(not isinstance(e, cst.Element) for e in node.elements):
        return None
    inner = [_literal_shape(e.value) for e in node.elements]
    if not inner:
        return Shape((0,))
    if any(s is None for s in inner) or len(set(inner)) != 1:
        return None
    return Shape((len(inner), *inner[0].dims))  # type: ignore[union-attr]


# -- reductions, shared with DLS201 ----------------------------------------------------------------


@dataclass(frozen=True)
class Reduction:
    """A reduction call: what it reduces, over which dims (``None``: all), and how it was written."""

    call: cst.Call
    input: cst.BaseExpression
    method: str
    dims: tuple[int, ...] | None
    keepdim: bool
    #: the ``keepdim`` argument when given (``keepdim=False`` or positional ``False``)
    keepdim_arg: cst.Arg | None
    #: ``max``/``min``/``median``/``mode`` with a dim: a ``(values, indices)`` pair
    pair: bool
    #: "torch" or "numpy" for a function (``torch.mean(x, 1)``, ``np.mean(x, axis=1)``), None
    #: for a method (``x.mean(1)``), whose receiver may be a tensor, an array or a DataFrame
    library: str | None
    #: the dim was given as numpy's ``axis=``
    numpy_style: bool


#: method name -> (position of dim, position of keepdim) among a method call's positional args
_REDUCTION_SIGNATURES: dict[str, tuple[int, int | None]] = {
    **{name: (0, 1) for name in ("sum", "mean", "nansum", "nanmean", "amax", "amin", "logsumexp",
                                 "prod", "all", "any", "max", "min", "median", "nanmedian", "mode")},
    "std": (0, None),
    "var": (0, None),
    "norm": (1, 2),
}
_LINALG_NORMS = frozenset({"torch.linalg.norm", "torch.linalg.vector_norm"})


def reduction_of(context: FileContext, call: cst.Call) -> Reduction | None:
    """Describe ``call`` when it is a tensor reduction with literal dims, else ``None``."""
    return context.fact(("shapes.reduction", id(call)), lambda: _describe_reduction(context, call))


def _describe_reduction(context: FileContext, call: cst.Call) -> Reduction | None:
    if not isinstance(call.func, cst.Attribute) or any(arg.star for arg in call.args):
        return None
    method = call.func.attr.value
    qualified = context.names.resolve(call.func)
    library: str | None = None
    signature: tuple[int, int | None]
    if qualified in _LINALG_NORMS:
        signature, library = (2, 3), "torch"
    elif method not in _REDUCTION_SIGNATURES:
        return None
    elif context.names.resolve(call.func.value) is not None:  # a module's function
        library = {f"torch.{method}": "torch", f"numpy.{method}": "numpy"}.get(qualified or "")
        if library is None:
            return None
        signature = _REDUCTION_SIGNATURES[method]
    else:
        signature = _REDUCTION_SIGNATURES[method]
    function = library is not None
    offset = 1 if function else 0
    positional = positional_args(call)
    if function:
        if not positional:
            return None
        tensor = positional[0].value
    else:
        tensor = call.func.value
    dim_position: int
    keep_position: int | None
    dim_position, keep_position = signature
    if library == "numpy":
        keep_position = None  # np.sum(a, axis, dtype, out, keepdims)
    axis = keyword_arg(call, "axis")
    dim_arg = axis or get_arg(call, "dim", dim_position + offset)
    keep_arg = keyword_arg(call, "keepdim") or keyword_arg(call, "keepdims")
    if keep_arg is None and keep_position is not None:
        keep_arg = get_arg(call, "keepdim", keep_position + offset)
    elif keep_position is None and len(positional) > dim_position + offset + 1:
        return None  # an old positional overload (``std(dim, unbiased, keepdim)``)
    dims: tuple[int, ...] | None = None
    if dim_arg is not None:
        dims = _literal_dims(dim_arg.value)
        if dims is None:
            return None
    keepdim = False
    if keep_arg is not None:
        if not isinstance(keep_arg.value, cst.Name) or keep_arg.value.value not in ("True", "False"):
            return None
        keepdim = keep_arg.value.value == "True"
    return Reduction(call, tensor, method, dims, keepdim, keep_arg,
                     pair=method in _PAIR_REDUCTIONS and dims is not None and library != "numpy" and axis is None,
                     library=library, numpy_style=axis is not None or library == "numpy")


def _literal_dims(node: cst.BaseExpression) -> tuple[int, ...] | None:
    if isinstance(node, (cst.Tuple, cst.List)):
        values = [_int(e.value) for e in node.elements if isinstance(e, cst.Element)]
        if len(values) != len(node.elements) or any(v is None for v in values) or not values:
            return None
        return tuple(values)  # type: ignore[arg-type]
    value = _int(node)
    return None if value is None else (value,)
