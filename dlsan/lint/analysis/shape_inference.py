"""Shape inference: what shape a tensor expression has, as far as this file says.

Computed per function (or module) and only when a rule asks; shapes and what operations do to
them are :mod:`~dlsan.lint.analysis.shape_algebra`'s.  ``None`` means "cannot tell", and every
rule built on this module stays quiet then.

Sources of shapes: literal constructors (``torch.randn(N, 1)``, ``zeros/ones/rand/empty/full/
tensor([...])/linspace/arange/eye`` and ``*_like``), shape-changing methods (``view/reshape/
unsqueeze/squeeze/flatten/permute/transpose/.T/expand/expand_as``), indexing (``x[:, None]``,
``x[..., 0]``), reductions with and without ``keepdim``, element-wise arithmetic (broadcasting),
``@``, and layers: ``nn.Linear(k, n)``, ``nn.Sequential(...)`` folded layer by layer, and
``nn.Module`` classes of the same file, whose ``forward`` return value is inferred the same way
(its input unknown).

Names are followed to their latest plain assignment before the use in the same function (then to
a single module-level assignment), as :meth:`~dlsan.lint.semantic.SemanticModel.value_at` says;
``self.layer`` to the class's only assignment to it (:func:`~dlsan.lint.semantic.objects.attribute_value`).
A layer applied to a tensor of unknown shape is assumed to receive a batch: ``nn.Linear(h, 1)(x)``
is ``(batch, 1)`` with possibly more leading dims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import libcst as cst

from dlsan.lint.analysis import shape_algebra as A
from dlsan.lint.analysis.functions import file_index, forward_of, is_module_class
from dlsan.lint.analysis.shape_algebra import BATCH, SCALAR, UNKNOWN, Dim, IndexItem, Shape, Span
from dlsan.lint.calls import (
    get_arg,
    has_unpacking,
    keyword_arg,
    numeric_value,
    positional_args,
)
from dlsan.lint.catalog import torch_api as T
from dlsan.lint.catalog.torch_api import SELF_RETURNING, SEQUENTIAL
from dlsan.lint.context import Fact, FileContext, node_fact
from dlsan.lint.names import dotted_name, is_self_member
from dlsan.lint.semantic.objects import attribute_value

# -- qualified names ------------------------------------------------------------------------------

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


#: the shape of each expression (an expression belongs to exactly one scope)
_SHAPES: Fact[cst.BaseExpression, Shape | None] = Fact("shapes")


class _Inference:
    def __init__(self, context: FileContext, scope: cst.CSTNode, owner: cst.ClassDef | None) -> None:
        self.context = context
        self.scope = scope
        self.owner = owner if owner is not None else _owner_class(context, scope)
        self.names = context.names

    def shape(self, expr: cst.BaseExpression) -> Shape | None:
        """Cached per file; an expression met again while its own shape is being computed
        (``x = x + 1`` in a loop, a forward that calls itself) reads as unknown."""
        return _SHAPES.get_guarded(self.context, expr, lambda: self._compute(expr), None)

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
            return A.matmul(left, right) if left is not None and right is not None else None
        return self._elementwise(expr.left, expr.right)

    def _elementwise(self, left_expr: cst.BaseExpression, right_expr: cst.BaseExpression) -> Shape | None:
        left = self.shape(left_expr)
        if left is None:
            return None
        right = self.shape(right_expr)
        return A.broadcast(left, right) if right is not None else None

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
                return A.transpose(base, -2, -1)
            return Shape(tuple(reversed(base.dims)))
        if attr == "values" and isinstance(expr.value, cst.Call):
            return self._reduction(expr.value, pair=True)
        return None

    # -- calls ---------------------------------------------------------------------------------

    def _call(self, call: cst.Call) -> Shape | None:
        qualified = self.names.qualified(call.func)
        if qualified:
            found = self._torch_function(call, set(qualified))
            if found is not None:
                return found
        if isinstance(call.func, cst.Attribute) and self.names.resolve(call.func.value) is None:
            method = call.func.attr.value
            if method in T.SAME_SHAPE_METHODS:
                return self.shape(call.func.value)
            base = self.shape(call.func.value)
            if base is None and method in ("view", "reshape", "flatten"):
                base = UNKNOWN  # flattening anything gives one dim
            if base is not None:
                return self._method(call, method, base)
        return self._layer_call(call)

    def _torch_function(self, call: cst.Call, qualified: set[str]) -> Shape | None:
        args = positional_args(call)
        if qualified & T.SIZED_CONSTRUCTORS:
            return self._sizes(call, args, "torch.randint" in qualified)
        if qualified & T.LIKE_CONSTRUCTORS:
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
        if qualified & T.POINTWISE_FUNCTIONS:
            return self.shape(args[0].value) if args else None
        if qualified & {"torch.matmul", "torch.mm"} and len(args) == 2:
            left, right = self.shape(args[0].value), self.shape(args[1].value)
            return A.matmul(left, right) if left is not None and right is not None else None
        names = {q[len("torch."):] for q in qualified if q.startswith("torch.") and q.count(".") == 1}
        for name in names & frozenset(T.REDUCTIONS):
            if name in T.PAIR_REDUCTIONS and get_arg(call, "dim", 1) is not None:
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
                target = self._size_object_shape(args[0].value)
            else:
                sizes = _size_args(args) if not keyword_arg(call, "size") else None
                target = self._reshape(base, sizes, expand=method == "expand", source=cast(cst.Attribute, call.func).value)
            return A.expand(base, target) if method == "expand" and target is not None else target
        if method in ("view_as", "reshape_as", "expand_as") and args:
            target = self.shape(args[0].value)
            return A.expand(base, target) if method == "expand_as" and target is not None else target
        if method in T.ARITHMETIC_METHODS and len(args) == 1:
            other = self.shape(args[0].value)
            return A.broadcast(base, other) if other is not None else None
        if method == "unsqueeze":
            dim = _int_arg(call, "dim", offset)
            return A.unsqueeze(base, dim) if dim is not None else None
        if method == "squeeze":
            return A.squeeze(base, _int_arg(call, "dim", offset), has_dim=bool(args) or keyword_arg(call, "dim") is not None)
        if method == "flatten":
            start, end = _int_arg(call, "start_dim", offset), _int_arg(call, "end_dim", offset + 1)
            start = 0 if start is None and not args and keyword_arg(call, "start_dim") is None else start
            end = -1 if end is None and len(args) < 2 and keyword_arg(call, "end_dim") is None else end
            if base is UNKNOWN and start == 0 and end == -1:
                return Shape((A.numel_symbol(self.context.code(cast(cst.Attribute, call.func).value)),))
            return A.flatten(base, start, end)
        if method in ("t", "transpose"):
            if method == "t":
                return A.transpose(base, 0, -1) if base.exact and len(base.dims) <= 2 else None
            first, second = _int_arg(call, "dim0", offset), _int_arg(call, "dim1", offset + 1)
            return A.transpose(base, first, second) if first is not None and second is not None else None
        if method == "permute":
            order = [_int(a.value) for a in args]
            if len(order) == 1 and isinstance(args[0].value, (cst.Tuple, cst.List)):
                order = [_int(e.value) for e in args[0].value.elements]
            return A.permute(base, order)
        if method in T.REDUCTIONS:
            if method in T.PAIR_REDUCTIONS and get_arg(call, "dim", 0) is not None:
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
        return A.reduce_shape(base, spec.dims, spec.keepdim)

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
        for _ in range(8):  # exact types (asked of every call): libcst's classes are slow-to-ask ABCs
            if type(func) is cst.Name and func.value == "self" and self.owner is not None:
                return self.owner
            if type(func) is cst.Name:
                found = self.context.semantic.value_at(func)
            elif is_self_member(func):
                found = attribute_value(self.context, self.owner, func.attr.value) if self.owner is not None else None
            elif (type(func) is cst.Call and type(func.func) is cst.Attribute
                  and func.func.attr.value in SELF_RETURNING):
                func = func.func.value
                continue
            elif type(func) is cst.Call:
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
        kind = set(self.names.qualified(layer.func))
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
            dims[wildcard] = A.remaining(base, dims, self.context.code(source))
        spelled = frozenset(len(sizes) - i for i, node in enumerate(sizes) if not expand and numeric_value(node) == 1)
        return Shape(tuple(dims), spelled=spelled)

    # -- indexing ------------------------------------------------------------------------------

    def _subscript(self, expr: cst.Subscript) -> Shape | None:
        if isinstance(expr.value, cst.Attribute) and expr.value.attr.value == "shape":
            return None
        base = self.shape(expr.value)
        if base is None:
            return None
        items = [_index_item(element.slice) for element in expr.slice]
        known = [item for item in items if item is not None]
        return A.index(base, known) if len(known) == len(items) else None


def called_layer(context: FileContext, func: cst.BaseExpression, scope: cst.CSTNode) -> cst.BaseExpression | cst.ClassDef | None:
    """What a called expression is, following names, ``self.<attr>`` and ``.to(device)``: the
    constructor call of a layer or loss (``nn.MSELoss()``), or a same-file Module class."""
    if type(func) is not cst.Name and type(func) is not cst.Call and not is_self_member(func):
        return None  # what _resolve_layer answers at once, without the owner class it would look up first
    return _Inference(context, scope, None)._resolve_layer(func)


def _owner_class(context: FileContext, scope: cst.CSTNode) -> cst.ClassDef | None:
    """The class of the file's index whose body defines the function ``scope``, if any (found
    through the parents: scanning every class's body, for each inference, was quadratic)."""
    if not isinstance(scope, cst.FunctionDef):
        return None
    block = context.semantic.parent(scope)
    cls = context.semantic.parent(block) if block is not None else None
    if not isinstance(cls, cst.ClassDef) or cls.body is not block:
        return None
    return cls if file_index(context).classes.get(cls.name.value) is cls else None


def _local_module_class(context: FileContext, func: cst.BaseExpression) -> cst.ClassDef | None:
    if not isinstance(func, cst.Name):
        return None
    cls = file_index(context).classes.get(func.value)
    return cls if cls is not None and is_module_class(context, cls) else None


@node_fact
def _forward_shape(context: FileContext, cls: cst.ClassDef) -> Shape | None:
    """The shape a same-file Module's ``forward`` returns for an input of unknown shape (a class
    whose forward reaches itself again reads as unknown: expressions in progress are unknown)."""
    forward = forward_of(context, cls)
    if forward is None:
        return None
    returns = context.semantic.scope_for(forward).returns
    if len(returns) != 1 or returns[0].value is None:
        return None
    return _Inference(context, forward, cls).shape(returns[0].value)


# -- syntax helpers ----------------------------------------------------------------------------------


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


def _index_item(item: cst.BaseSlice) -> IndexItem | None:
    """One item of ``x[...]`` for the algebra; ``None`` when it is not a literal form."""
    if isinstance(item, cst.Slice):
        lower = _int(item.lower) if item.lower is not None else 0
        upper = _int(item.upper) if item.upper is not None else None
        if item.step is not None or lower is None or (item.upper is not None and upper is None):
            return Span(known=False)
        return Span(lower, upper)
    value = item.value if isinstance(item, cst.Index) else None
    if isinstance(value, cst.Name) and value.value == "None":
        return "new"
    if isinstance(value, cst.Ellipsis):
        return "ellipsis"
    return "int" if value is not None and _int(value) is not None else None


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


@node_fact
def reduction_of(context: FileContext, call: cst.Call) -> Reduction | None:
    """Describe ``call`` when it is a tensor reduction with literal dims, else ``None``."""
    if not isinstance(call.func, cst.Attribute) or any(arg.star for arg in call.args):
        return None
    method = call.func.attr.value
    qualified = context.names.resolve(call.func)
    library: str | None = None
    signature: tuple[int, int | None]
    if qualified in T.LINALG_NORMS:
        signature, library = (2, 3), "torch"
    elif method not in T.REDUCTIONS:
        return None
    elif context.names.resolve(call.func.value) is not None:  # a module's function
        library = {f"torch.{method}": "torch", f"numpy.{method}": "numpy"}.get(qualified or "")
        if library is None:
            return None
        signature = T.REDUCTIONS[method]
    else:
        signature = T.REDUCTIONS[method]
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
                     pair=method in T.PAIR_REDUCTIONS and dims is not None and library != "numpy" and axis is None,
                     library=library, numpy_style=axis is not None or library == "numpy")


def _literal_dims(node: cst.BaseExpression) -> tuple[int, ...] | None:
    if isinstance(node, (cst.Tuple, cst.List)):
        values = [_int(e.value) for e in node.elements if isinstance(e, cst.Element)]
        if len(values) != len(node.elements) or any(v is None for v in values) or not values:
            return None
        return tuple(values)  # type: ignore[arg-type]
    value = _int(node)
    return None if value is None else (value,)
