from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.activations import activation_call, activation_input, ending
from dlsan.lint.calls import has_unpacking, numeric_value, positional_args
from dlsan.lint.rule import FixSpec, Invalid, Replace, Rule, Valid
from dlsan.lint.semantic.values import is_torch_tensor

_LOG = frozenset({"torch.log"})
_EXP = frozenset({"torch.exp"})
_SUM = frozenset({"torch.sum"})


def _only_argument(call: cst.Call) -> cst.BaseExpression | None:
    args = positional_args(call)
    return args[0].value if len(args) == 1 and len(call.args) == 1 else None


def _is_one(node: cst.BaseExpression) -> bool:
    return numeric_value(node) == 1.0


class UnstableLogExp(Rule):
    """
    ## What it does
    Flags, on torch tensors, `log(sum(exp(x)))`, `log(1 + exp(x))`, `exp(x) - 1` and
    `log(sigmoid(x))` (also of a model whose output ends in a sigmoid), each of which has a stable
    torch function.

    A plain `log(1 + x)` is not flagged: measured on real code it is almost always a count or a
    coordinate (`log(1 + degree)`, Swin's log-spaced relative coordinates), where `log1p` gains
    nothing, and the linter cannot tell those from small floats. `log(1 - p)` of a probability
    is not flagged either: its trouble is `p` rounding to 1, which `log1p(-p)` does not cure.

    ## Why is this bad?
    `exp` overflows to `inf` for inputs above ~88 (float32; ~11 in float16), so
    `log(sum(exp(x)))` and `log(1 + exp(x))` return `inf`/NaN for logits any real model
    produces; `exp(x) - 1` loses every significant digit near zero; `log(sigmoid(x))` is `-inf` for `x` below about -100. The losses and gradients built
    on them go NaN or silently lose precision. `logsumexp`, `softplus`, `expm1` and `logsigmoid`
    compute the same functions without those problems.

    ## Example
    ```python
    lse = torch.log(torch.sum(torch.exp(logits), dim=1))
    y = torch.exp(x) - 1
    ```

    ## Use instead
    ```python
    lse = torch.logsumexp(logits, dim=1)
    y = torch.expm1(x)
    ```

    ## Fix safety
    Safe: each rewrite computes the same mathematical function with the same arguments (`dim`,
    `keepdim` kept), only with less rounding error. It is offered when the torch module is
    written as `torch` in the file; `log(1 + exp(x))` is reported with `softplus` as advice and
    no fix, since `softplus` switches to the identity above its threshold.
    """

    code = "DLS512"
    name = "unstable-log-exp"
    message = "`{expr}` {why}; use `{instead}`, which computes the same value stably"
    fix_applicability = "safe"

    VALID = [
        Valid("import torch\nlse = torch.logsumexp(x, dim=1)\n"),
        Valid("import torch\ny = torch.log1p(x)\nz = torch.expm1(x)\n"),
        # pyg-team/pytorch_geometric torch_geometric/nn/aggr/scaler.py: log of a degree count
        Valid("import torch\namp = torch.log(deg + 1)\n"),
        Valid("import numpy as np\ny = np.log(1 + counts)\n"),
        Valid("import math\ny = math.log(1 + n)\n"),
        Valid("import torch\ny = torch.log(x + 1e-8)\n"),
        Valid("import torch\ny = torch.log(torch.sum(probs, dim=1))\n"),
        Valid("import torch\nimport torch.nn.functional as F\ny = F.logsigmoid(x)\n"),
        Valid("import torch\ny = torch.exp(x) - 2\nz = 1 - torch.exp(x)\n"),
        Valid("import torch\ny = (1 + x).log()\n"),
        Valid("import torch\ny = torch.log(2 + x)\n"),
        Valid("import torch\n# log(1 - p) of a probability: log1p(-p) gains nothing where p saturates\ny = torch.log(1 - p)\n"),
    ]
    INVALID = [
        Invalid("import torch\nlse = torch.log(torch.sum(torch.exp(logits), dim=1))\n", line=2,
                fixed="import torch\nlse = torch.logsumexp(logits, dim=1)\n"),
        Invalid("import torch\nlse = torch.exp(scores).sum(-1, keepdim=True).log()\n", line=2,
                fixed="import torch\nlse = torch.logsumexp(scores, -1, keepdim=True)\n"),
        Invalid("import torch\nsp = torch.log(torch.exp(x) + 1.0)\n", line=2),
        Invalid("import torch\ny = torch.exp(2 * x) - 1.0\n", line=2, fixed="import torch\ny = torch.expm1(2 * x)\n"),
        Invalid("import torch\nz = torch.exp(x) - 1\n", line=2, fixed="import torch\nz = torch.expm1(x)\n"),
        Invalid("import torch\nls = torch.log(torch.sigmoid(z))\n", line=2,
                fixed="import torch\nls = torch.nn.functional.logsigmoid(z)\n"),
        Invalid("import torch\nsp = torch.log(1 + torch.exp(x))\n", line=2),
        Invalid("import torch\nls = torch.sigmoid(score).log()\n", line=2),
        Invalid("import torch as T\nlse = T.log(T.exp(a - m).sum(dim=0)) + m\n", line=2),
        Invalid("import torch\nx = torch.randn(4)\nz = x.exp() - 1\n", line=3),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        argument = self._log_argument(node)
        if argument is None:
            return
        self._sum_of_exp(node, argument) or self._one_plus(node, argument) or self._of_sigmoid(node, argument)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if not isinstance(node.operator, cst.Subtract) or not _is_one(node.right):
            return
        inner = self._exp_argument(node.left)
        if inner is not None:
            self._report(node, "loses all precision for small `x`", "expm1(x)", f"expm1({self._code(inner)})")

    # -- the patterns ---------------------------------------------------------------------------

    def _sum_of_exp(self, node: cst.Call, argument: cst.BaseExpression) -> bool:
        if not isinstance(argument, cst.Call) or has_unpacking(argument):
            return False
        summed, rest = self._summed(argument)
        inner = self._exp_argument(summed) if summed is not None else None
        if inner is None:
            return False
        has_dim = bool(rest) and (rest[0].keyword is None or rest[0].keyword.value == "dim")
        arguments = ", ".join([self._code(inner), *(self.context.code(a).rstrip(", ") for a in rest)])
        self._report(node, "overflows to inf for large inputs", "logsumexp(x, dim)",
                     f"logsumexp({arguments})" if has_dim else None)
        return True

    def _one_plus(self, node: cst.Call, argument: cst.BaseExpression) -> bool:
        """``log(1 + exp(x))``: softplus.  A plain ``log(1 + x)`` is left alone: the linter cannot
        tell a small float (where ``log1p`` matters) from a count or a coordinate (``log(1 + deg)``,
        Swin's log-spaced relative coordinates), where it gains nothing."""
        if not isinstance(argument, cst.BinaryOperation) or not isinstance(argument.operator, cst.Add):
            return False
        other = argument.right if _is_one(argument.left) else argument.left if _is_one(argument.right) else None
        inner = self._exp_argument(other) if other is not None else None
        if inner is None:
            return False
        self._report(node, "overflows to inf for large `x`", "torch.nn.functional.softplus(x)", None)
        return True

    def _of_sigmoid(self, node: cst.Call, argument: cst.BaseExpression) -> bool:
        found = ending(self.context, argument, self.context.enclosing(cst.ClassDef))
        if found is None or found.kind != "sigmoid":
            return False
        inline = found.inline_call
        inner = activation_input(self.context, inline) if inline is not None else None
        replacement = None
        if inner is not None and self._torch_is_bound(node):
            replacement = f"torch.nn.functional.logsigmoid({self._code(inner)})"
        self._report(node, "takes the log of a sigmoid, which is -inf once the sigmoid saturates", "F.logsigmoid(x)",
                     replacement, absolute=True)
        return True

    # -- parts ------------------------------------------------------------------------------------

    def _log_argument(self, node: cst.Call) -> cst.BaseExpression | None:
        """``p`` in ``torch.log(p)``, or in ``p.log()`` when ``p`` is known to be a torch value."""
        if self.context.names.matches(node.func, _LOG):
            return _only_argument(node)
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "log" and not node.args \
                and self._is_torch_value(func.value):
            return func.value
        return None

    def _is_torch_value(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "sum":
            return self._exp_argument(expr.func.value) is not None
        if isinstance(expr, cst.Call) and activation_call(self.context, expr) == "sigmoid":
            return self.context.names.resolve(expr.func) is not None or \
                is_torch_tensor(self.context, expr.func.value)  # type: ignore[attr-defined]
        return False

    def _exp_argument(self, expr: cst.BaseExpression) -> cst.BaseExpression | None:
        """``x`` in ``torch.exp(x)``, or in ``x.exp()`` when ``x`` is known to be a tensor."""
        if not isinstance(expr, cst.Call):
            return None
        if self.context.names.matches(expr.func, _EXP):
            return _only_argument(expr)
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value == "exp" and not expr.args \
                and is_torch_tensor(self.context, func.value):
            return func.value
        return None

    def _summed(self, call: cst.Call) -> tuple[cst.BaseExpression | None, list[cst.Arg]]:
        """What ``torch.sum(e, ...)`` / ``e.sum(...)`` sums, and its remaining arguments."""
        if self.context.names.matches(call.func, _SUM):
            if not call.args or call.args[0].keyword is not None:
                return None, []
            return call.args[0].value, list(call.args[1:])
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "sum":
            return call.func.value, list(call.args)
        return None, []

    def _torch_is_bound(self, at: cst.CSTNode) -> bool:
        """Whether ``torch`` names the torch package where a fix would write it."""
        return self.context.names.bound_at("torch", at) == "torch"

    def _code(self, node: cst.BaseExpression) -> str:
        return self.context.code(node)

    def _report(self, node: cst.BaseExpression, why: str, instead: str, replacement: str | None,
                absolute: bool = False) -> None:
        fix = None
        if replacement is not None and "\n" not in replacement and (absolute or self._torch_is_bound(node)):
            text = replacement if absolute else f"torch.{replacement}"
            fix = FixSpec(f"Use `{instead}`", [Replace(node, text)])
        name = instead if absolute or instead.startswith("torch.") else f"torch.{instead}"
        self.report(node, self.message.format(expr=self._code(node), why=why, instead=name), fix=fix)
