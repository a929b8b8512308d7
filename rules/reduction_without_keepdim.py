from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libcst as cst

from dlsan.lint.analysis.nodes import uses_in
from dlsan.lint.analysis.shape_algebra import reduction_misaligns
from dlsan.lint.analysis.shape_inference import Reduction, reduction_of, shape_of
from dlsan.lint.calls import append_keyword, keyword_arg, numeric_value, positional_args
from dlsan.lint.catalog import torch_api as T
from dlsan.lint.names import dotted_name
from dlsan.lint.rule import EditSpec, FixSpec, InsertAfter, Invalid, Replace, Rule, Valid
from dlsan.lint.semantic.values import Kind, value_of

_ELEMENTWISE = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power)
_AUGMENTED = (cst.AddAssign, cst.SubtractAssign, cst.MultiplyAssign, cst.DivideAssign,
              cst.FloorDivideAssign, cst.ModuloAssign, cst.PowerAssign)
_POWER = frozenset({"torch.pow", "torch.square", "numpy.power", "numpy.square"})
#: calls that broadcast their receiver explicitly, aligned from the right
_EXPANDS = frozenset({"expand_as", "expand"})
#: how many names to follow from an operand back to the reduction (``std = torch.sqrt(var + eps)``)
_MAX_NAME_HOPS = 4


@dataclass(frozen=True)
class _Found:
    reduction: Reduction
    #: names followed from the operand to the reduction
    via: tuple[cst.Name, ...]


class ReductionWithoutKeepdim(Rule):
    """
    ## What it does
    Flags a reduction of a tensor over a non-leading dim (`x.mean(dim=1)`, `e.sum(-1)`,
    `logits.max(dim=-1).values`) without `keepdim=True`, whose result is then combined element-wise
    with the same tensor (`x - x.mean(dim=1)`), directly or through a variable.

    Reasoning: reducing `x` of shape `(N, D)` over dim 1 gives `(N,)`. Broadcasting aligns
    shapes from the right, so `x - m` pairs `m`'s `N` with `x`'s `D`: it raises when `N != D`,
    and is silently wrong when `N == D` (a square attention or Gram matrix, a batch as large as the
    feature count) - each row then loses the mean of another row. It is right only in degenerate
    cases (a batch of one). In general a reduction over dims `S` broadcasts back correctly exactly
    when `S` is a leading block `{0, ..., k-1}`: over dim 0 (or over everything) it is fine, over
    any later dim it is a bug for every input with more than one dim. So the rule flags positive
    non-leading dims always, `-1` unless the tensor is known to be 1-D (then `-1` is dim 0), and
    other negative dims only when the tensor's rank is known; it is quiet for `keepdim=True` and
    when the reduced value is reshaped (`unsqueeze`, `[:, None]`, `view`) before it is combined.
    `m.expand_as(x)` (or `m.expand(x.size())`) aligns `m` with `x` from the right exactly as
    implicit broadcasting does, so it is seen through: `x / x.norm(dim=1).expand_as(x)` is the
    same bug (it was right before PyTorch 0.2, when reductions kept their dims by default).

    The reduced object must be known to be a torch tensor or a numpy array: reduced by a torch
    or numpy function, known to the semantic model (built by torch or numpy), of a known shape,
    or reduced the torch way (`dim=`, `keepdim=`, `logsumexp`, `norm`, `amax` ...). A pandas
    `df - df.mean(axis=1)` aligns by labels instead, and an object of unknown kind stays quiet.

    ## Why is this bad?
    Without `keepdim=True` the reduced dim disappears, and broadcasting lines the result up
    against the wrong dim of the original tensor. Normalisations, centring and numerically stable
    softmax written this way either crash on some batch sizes or, worse, run and compute nonsense
    whenever two dims happen to be equal.

    ## Example
    ```python
    logits = logits - logits.max(dim=-1).values
    probs = logits.exp() / logits.exp().sum(-1)
    ```

    ## Use instead
    ```python
    logits = logits - logits.max(dim=-1, keepdim=True).values
    probs = logits.exp() / logits.exp().sum(-1, keepdim=True)
    ```

    ## Fix safety
    The fix adds `keepdim=True` to the reduction (`keepdims=True` for NumPy). It is safe when the
    reduced value is used only in that broadcast; unsafe when the value is also used elsewhere
    (its shape changes there too).
    """

    code = "DLS201"
    name = "reduction-without-keepdim"
    message = (
        "a reduction over a non-leading dim without `{keyword}=True` is combined element-wise with "
        "the tensor it reduced: broadcasting aligns it with the wrong dim (it crashes, or is "
        "silently wrong when two dims are equal); pass `{keyword}=True`"
    )
    fix_applicability = "safe"

    VALID = [
        Valid("""
            import torch
            x = torch.randn(32, 16)
            centered = x - x.mean(dim=0)
        """),
        Valid("""
            import torch
            def normalize(x):
                return (x - x.mean(dim=1, keepdim=True)) / x.std(dim=1, keepdim=True)
        """),
        Valid("""
            import torch
            def softmax(logits):
                e = torch.exp(logits - logits.max())
                return e / e.sum()
        """),
        Valid("""
            import torch
            weights = torch.rand(10)
            weights = weights / weights.sum(-1)
        """),
        Valid("""
            import torch
            def center(feats):
                return feats - feats.mean(1).unsqueeze(1)
        """),
        Valid("""
            import torch
            def center(feats):
                mu = feats.mean(dim=-1)[:, None]
                return feats - mu
        """),
        Valid("""
            import torch
            def layer_norm(h, eps=1e-5):
                mu = h.mean(-1, keepdim=True)
                var = h.var(-1, unbiased=False, keepdim=True)
                return (h - mu) / torch.sqrt(var + eps)
        """),
        Valid("""
            import torch
            def training_step(self, batch, batch_idx):
                x, y = batch
                pooled = x.mean(dim=1)
                return self.head(pooled) - y
        """),
        Valid("""
            import torch
            images = torch.rand(8, 3, 32, 32)
            images = images - images.mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
        """),
        Valid("""
            import torch
            x = torch.randn(T, D)
            x = x - x.mean(dim=-2)
            y = x - x.sum(dim=(0, 1))
        """),
        # the reduced value is given its dim back before it is expanded
        Valid("""
            import torch
            def l2norm(X):
                norm = torch.pow(X, 2).sum(dim=1).sqrt()
                return torch.div(X, norm.unsqueeze(1).expand_as(X))
        """),
        Valid("""
            import torch
            def l2norm(x):
                norm = torch.sqrt(torch.sum(x * x, 1))
                return torch.div(x, norm.view(-1, 1).expand_as(x))
        """),
        # pandas aligns a row statistic by labels: not a tensor, not this rule's
        Valid("""
            import pandas as pd
            import torch
            df = pd.read_csv("scores.csv")
            centred = df - df.mean(axis=1)
        """),
        # an object of unknown kind, reduced as numpy, pandas and torch all can: unknown stays quiet
        Valid("""
            import torch
            def centre(table):
                return table - table.mean(1)
        """),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            def standardize(x):
                return x - x.mean(dim=1)
            """,
            line=3,
            fixed="""
            import torch
            def standardize(x):
                return x - x.mean(dim=1, keepdim=True)
            """,
        ),
        Invalid(
            """
            import torch
            def softmax(scores):
                e = torch.exp(scores)
                return e / e.sum(-1)
            """,
            line=4,
            fixed="""
            import torch
            def softmax(scores):
                e = torch.exp(scores)
                return e / e.sum(-1, keepdim=True)
            """,
        ),
        Invalid(
            """
            import torch
            def stable_logits(logits):
                return logits - logits.max(dim=-1).values
            """,
            line=3,
            fixed="""
            import torch
            def stable_logits(logits):
                return logits - logits.max(dim=-1, keepdim=True).values
            """,
        ),
        Invalid(
            """
            import torch
            def layer_norm(x, eps=1e-5):
                m = torch.mean(x, -1)
                v = torch.var(x, -1)
                return (x - m) / torch.sqrt(v + eps)
            """,
            line=5,
            fixed="""
            import torch
            def layer_norm(x, eps=1e-5):
                m = torch.mean(x, -1, keepdim=True)
                v = torch.var(x, -1, keepdim=True)
                return (x - m) / torch.sqrt(v + eps)
            """,
        ),
        Invalid(
            """
            import torch
            for images, labels in loader:
                feats = backbone(images)
                feats = feats / feats.norm(dim=1)
                loss = criterion(feats @ prototypes.T, labels)
                loss.backward()
            """,
            line=4,
            fixed="""
            import torch
            for images, labels in loader:
                feats = backbone(images)
                feats = feats / feats.norm(dim=1, keepdim=True)
                loss = criterion(feats @ prototypes.T, labels)
                loss.backward()
            """,
        ),
        Invalid(
            """
            import torch
            attn = torch.randn(T, T)
            attn = attn - torch.max(attn, 1)[0]
            """,
            line=3,
            fixed="""
            import torch
            attn = torch.randn(T, T)
            attn = attn - torch.max(attn, 1, keepdim=True)[0]
            """,
        ),
        Invalid(
            """
            import torch
            def training_step(self, batch, batch_idx):
                probs = self(batch["x"]).softmax(-1)
                probs /= probs.sum(dim=1, keepdim=False)
                return probs
            """,
            line=4,
            fixed="""
            import torch
            def training_step(self, batch, batch_idx):
                probs = self(batch["x"]).softmax(-1)
                probs /= probs.sum(dim=1, keepdim=True)
                return probs
            """,
        ),
        Invalid(
            """
            import torch
            def log_softmax(z):
                lse = z.logsumexp(1)
                print(lse.shape)
                return z - lse
            """,
            line=5,
            fixed="""
            import torch
            def log_softmax(z):
                lse = z.logsumexp(1, keepdim=True)
                print(lse.shape)
                return z - lse
            """,
        ),
        Invalid(
            """
            import numpy as np
            import torch
            X = np.random.rand(100, 4)
            X_scaled = (X - X.min(axis=1)) / (X.max(axis=1) - X.min(axis=1) + 1e-8)
            """,
            line=4,
        ),
        # a method of an array known to be NumPy's: its keyword is `keepdims`
        Invalid(
            """
            import numpy as np
            import torch
            a = np.random.rand(3, 4)
            b = a - a.mean(1)
            """,
            line=4,
            fixed="""
            import numpy as np
            import torch
            a = np.random.rand(3, 4)
            b = a - a.mean(1, keepdims=True)
            """,
        ),
        Invalid(
            """
            import torch
            x = torch.randn(32, 16)
            x_unit = x.div(x.norm(p=2, dim=1) + 1e-12)
            """,
            line=3,
        ),
        # expand_as aligns from the right like implicit broadcasting: the same misalignment
        Invalid(
            """
            import torch
            def l2norm(X):
                norm = torch.pow(X, 2).sum(dim=1).sqrt()
                return torch.div(X, norm.expand_as(X))
            """,
            line=4,
            fixed="""
            import torch
            def l2norm(X):
                norm = torch.pow(X, 2).sum(dim=1, keepdim=True).sqrt()
                return torch.div(X, norm.expand_as(X))
            """,
        ),
        Invalid(
            """
            import torch
            def normalize(feats: torch.Tensor) -> torch.Tensor:
                return feats - feats.mean(1)
            """,
            line=3,
        ),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: a reduction that could be flagged was met earlier in the file: only then follow names
        self._reduction_seen = False

    # -- where a reduced value meets its input -----------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Attribute) and not self._reduction_seen:
            reduction = reduction_of(self.context, node)
            self._reduction_seen = reduction is not None and reduction.dims is not None and not reduction.keepdim
        operands = self._call_operands(node)
        if operands is not None:
            self._check(node, *operands)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, _ELEMENTWISE):
            self._check(node, node.left, node.right)
            self._check(node, node.right, node.left)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.operator, _AUGMENTED):
            self._check(node, node.target, node.value)

    def _call_operands(self, call: cst.Call) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
        args = positional_args(call)
        if not isinstance(call.func, cst.Attribute) or call.func.attr.value not in T.ARITHMETIC_METHODS:
            return None
        if self.context.names.matches(call.func, T.ARITHMETIC_FUNCTIONS):
            return (args[0].value, args[1].value) if len(args) == 2 else None
        if self.context.names.resolve(call.func.value) is None and len(args) == 1:
            return call.func.value, args[0].value
        return None

    # -- the check -----------------------------------------------------------------------------------

    def _check(self, node: cst.CSTNode, tensor_side: cst.BaseExpression, reduced_side: cst.BaseExpression) -> None:
        scope = self.context.semantic.binding_function(self.context.ancestors).node
        found = self._reduction_in(reduced_side, scope, ())
        if found is None:
            return
        reduction = found.reduction
        reduced = {self.context.code(reduction.input), self.context.code(self._same_shape_source(reduction.input))}
        if not reduced & self._roots(tensor_side, scope, _MAX_NAME_HOPS):
            return
        if not self._misaligns(reduction, scope) or not self._known_array(reduction, scope):
            return
        keyword = self._keepdim_keyword(reduction)
        self.report(node, self.message.format(keyword=keyword), fix=self._fix(found, scope, keyword))

    def _keepdim_keyword(self, reduction: Reduction) -> str:
        """``keepdims`` for a NumPy reduction (a NumPy function, ``axis=``, or a method of an
        array the model knows is NumPy's), else torch's ``keepdim``."""
        numpy = reduction.numpy_style or value_of(self.context, reduction.input).kind is Kind.NDARRAY
        return "keepdims" if numpy else "keepdim"

    def _same_shape_source(self, expr: cst.BaseExpression) -> cst.BaseExpression:
        """The tensor ``expr`` has the shape of: ``X`` for ``X.pow(2)``, ``torch.pow(X, 2)``,
        ``X ** 2``, ``X * X``, ``torch.abs(X)``."""
        for _ in range(_MAX_NAME_HOPS):
            if isinstance(expr, cst.Call):
                inner = self._pointwise_argument(expr)
                if inner is None and self.context.names.matches(expr.func, _POWER) and expr.args:
                    inner = expr.args[0].value
                if inner is None:
                    break
                expr = inner
            elif isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, _ELEMENTWISE):
                if _is_small_constant(expr.right) or self.context.code(expr.left) == self.context.code(expr.right):
                    expr = expr.left
                elif _is_small_constant(expr.left):
                    expr = expr.right
                else:
                    break
            else:
                break
        return expr

    def _known_array(self, reduction: Reduction, scope: cst.CSTNode) -> bool:
        """Whether the reduced object is known to be a torch tensor or a numpy array: a torch or
        numpy function reduces it, the model knows what it holds, its shape is known, or the call
        is spelled the torch way (``dim=``, ``keepdim=``, a method only torch tensors have).  A
        pandas ``DataFrame.mean(axis=1)`` aligns by labels instead; unknown stays quiet."""
        if reduction.library is not None:
            return True
        value = value_of(self.context, reduction.input)
        if value.kind is not Kind.UNKNOWN:
            return value.is_torch_tensor or value.kind is Kind.NDARRAY
        return (keyword_arg(reduction.call, "dim") is not None or keyword_arg(reduction.call, "keepdim") is not None
                or reduction.method in T.TORCH_ONLY_REDUCTIONS
                or shape_of(self.context, reduction.input, scope) is not None)

    def _reduction_in(self, expr: cst.BaseExpression, scope: cst.CSTNode, via: tuple[cst.Name, ...]) -> _Found | None:
        """The reduction ``expr`` is (through pointwise wrappers and assignments), if any."""
        if isinstance(expr, cst.Name):
            if not self._reduction_seen or len(via) >= _MAX_NAME_HOPS:
                return None
            bound = self.context.semantic.value_at(expr)
            return self._reduction_in(bound.expr, scope, (*via, expr)) if bound and bound.scope.node is scope else None
        if isinstance(expr, cst.Attribute) and expr.attr.value == "values" and isinstance(expr.value, cst.Call):
            reduction = reduction_of(self.context, expr.value)
            return _Found(reduction, via) if reduction is not None and reduction.pair else None
        if isinstance(expr, cst.Subscript) and isinstance(expr.value, cst.Call) and _is_first_item(expr):
            reduction = reduction_of(self.context, expr.value)
            return _Found(reduction, via) if reduction is not None and reduction.pair else None
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, _ELEMENTWISE):
            for inner, other in ((expr.left, expr.right), (expr.right, expr.left)):
                if _is_small_constant(other):
                    return self._reduction_in(inner, scope, via)
            return None
        if isinstance(expr, cst.Call):
            wrapped = self._pointwise_argument(expr)
            if wrapped is not None:
                return self._reduction_in(wrapped, scope, via)
            reduction = reduction_of(self.context, expr)
            if reduction is not None and not reduction.pair:
                return _Found(reduction, via)
        return None

    def _pointwise_argument(self, call: cst.Call) -> cst.BaseExpression | None:
        """What an element-wise call keeps the shape of; also ``m.expand_as(x)`` and
        ``m.expand(x.size())``, which align ``m`` with ``x`` from the right exactly as implicit
        broadcasting does."""
        if self.context.names.matches(call.func, T.POINTWISE_FUNCTIONS):
            args = positional_args(call)
            return args[0].value if args else None
        if (isinstance(call.func, cst.Attribute) and self.context.names.resolve(call.func.value) is None
                and (call.func.attr.value in T.SAME_SHAPE_METHODS or call.func.attr.value in _EXPANDS)):
            return call.func.value
        return None

    def _roots(self, expr: cst.BaseExpression, scope: cst.CSTNode, hops: int) -> set[str]:
        """Source of ``expr`` and of the tensors it is element-wise arithmetic on (``x`` for
        ``x - m``, and for ``xc`` after ``xc = x - m``): those keep ``x``'s shape."""
        found = {self.context.code(expr)}
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, _ELEMENTWISE):
            found |= self._roots(expr.left, scope, hops) | self._roots(expr.right, scope, hops)
        elif isinstance(expr, cst.Name) and hops > 0 and self._reduction_seen:
            bound = self.context.semantic.value_at(expr)
            if bound is not None and bound.scope.node is scope and isinstance(bound.expr, cst.BinaryOperation):
                found |= self._roots(bound.expr, scope, hops - 1)
        return found

    def _misaligns(self, reduction: Reduction, scope: cst.CSTNode) -> bool:
        """Whether the reduced dims are not a leading block of the input's dims."""
        dims = reduction.dims
        if dims is None or reduction.keepdim:
            return False
        shape = shape_of(self.context, reduction.input, scope)
        return reduction_misaligns(dims, shape.rank if shape is not None else None)

    # -- the fix -------------------------------------------------------------------------------------

    def _fix(self, found: _Found, scope: cst.CSTNode, keyword: str) -> FixSpec | None:
        reduction = found.reduction
        edit: EditSpec
        if reduction.keepdim_arg is not None:
            edit = Replace(reduction.keepdim_arg.value, "True")
        else:
            where = append_keyword(reduction.call, f"{keyword}=True")
            if where is None:
                return None
            edit = InsertAfter(*where)
        safe = all(self._used_once(name, scope) for name in found.via)
        return FixSpec(f"Pass `{keyword}=True`", [edit], "safe" if safe else "unsafe")

    def _used_once(self, name: cst.Name, scope: cst.CSTNode) -> bool:
        """``name`` has one binding in ``scope`` and this is its only use."""
        if len(self.context.semantic.scope_for(scope).bindings_of(name.value)) != 1:
            return False
        return uses_in(self.context, scope, name.value) == 2  # the assignment's target and this use


def _is_first_item(expr: cst.Subscript) -> bool:
    """``call(...)[0]``: the values of a ``(values, indices)`` pair."""
    if len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
        return False
    return numeric_value(expr.slice[0].slice.value) == 0


def _is_small_constant(expr: cst.BaseExpression) -> bool:
    """A number, or a name like ``eps`` / ``self.eps``: adding it keeps the reduced shape."""
    if numeric_value(expr) is not None:
        return True
    name = dotted_name(expr)
    return name is not None and "eps" in name.rsplit(".", 1)[-1].lower()
