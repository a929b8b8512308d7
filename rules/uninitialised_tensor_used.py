from __future__ import annotations

import libcst as cst

from dlsan.lint.calls import numeric_value, positional_args
from dlsan.lint.catalog.torch_api import LEGACY_TENSOR_CLASSES
from dlsan.lint.rule import Invalid, Rule, Valid

_EMPTY = frozenset({"torch.empty", "torch.empty_like", "torch.empty_strided"})
#: in-place methods that read the old values (accumulate into them)
_ACCUMULATING = frozenset({"add_", "sub_", "mul_", "div_", "addmm_", "addcmul_", "addcdiv_", "baddbmm_",
                           "index_add_", "scatter_add_", "pow_", "lerp_"})
#: methods that read the values (reductions, arithmetic)
_READING = frozenset({"sum", "mean", "max", "min", "std", "var", "norm", "prod", "cumsum", "argmax", "argmin",
                      "item", "tolist", "numpy", "add", "sub", "mul", "div", "matmul", "mm", "abs", "exp", "log"})


def _sized(call: cst.Call) -> bool:
    """``torch.Tensor(3, 4)`` / ``torch.FloatTensor(n.size(0))`` (sizes), not ``torch.Tensor([1, 2])``
    or ``torch.FloatTensor(array)`` (data); every size a non-zero literal or a ``.size()`` /
    ``.shape[...]`` / ``len()`` of something."""
    args = positional_args(call)
    if not args or len(args) != len(call.args):
        return False
    return all(_is_size(arg.value) for arg in args)


def _is_size(node: cst.BaseExpression) -> bool:
    value = numeric_value(node)
    if value is not None:
        return isinstance(node, cst.Integer) and value > 0
    if isinstance(node, cst.Call):
        func = node.func
        return (isinstance(func, cst.Attribute) and func.attr.value == "size") or (
            isinstance(func, cst.Name) and func.value == "len")
    if isinstance(node, cst.Subscript):
        return isinstance(node.value, cst.Attribute) and node.value.attr.value == "shape"
    if isinstance(node, cst.BinaryOperation):
        return _is_size(node.left) and _is_size(node.right)
    return False


class UninitialisedTensorUsed(Rule):
    """
    ## What it does
    Flags a tensor created by `torch.empty(...)` (or a legacy sized constructor such as
    `torch.Tensor(n, m)` / `torch.FloatTensor(n)`) whose first use is an accumulation
    (`x += ...`, `x[i] += ...`, `x.add_(...)`) or a read (arithmetic, a reduction) rather than a
    write that fills it (`copy_`, `fill_`, `zero_`, `normal_`, an init function, `out=`).

    ## Why is this bad?
    `torch.empty` and the sized legacy constructors allocate memory without initialising it: the
    tensor holds whatever the allocator reused, often zeros in a fresh process (so tests pass) and
    garbage, huge values or NaN later. Accumulating into it or reading it gives results that change
    from run to run.

    ## Example
    ```python
    total = torch.empty(num_classes)
    for y in labels:
        total[y] += 1
    ```

    ## Use instead
    ```python
    total = torch.zeros(num_classes)
    ```
    """

    code = "DLS102"
    name = "uninitialised-tensor-used"
    message = (
        "`{name}` comes from `{ctor}`, which leaves memory uninitialised, and its first use {use} the "
        "old values; create it with `torch.zeros` (or fill it first)"
    )

    VALID = [
        Valid("import torch\nx = torch.empty(3, 4)\nx.normal_()\ny = x * 2\n"),
        Valid("import torch\nout = torch.empty(n)\nfor i in range(n):\n    out[i] = f(i)\nreturn_value = out.sum()\n"),
        Valid("import torch\nbuf = torch.empty(4)\ntorch.add(a, b, out=buf)\n"),
        Valid("import torch\nw = torch.empty(10, 5)\ntorch.nn.init.xavier_uniform_(w)\n"),
        Valid("import torch\nacc = torch.zeros(3)\nacc += x\n"),
        Valid("import torch\nt = torch.Tensor([1.0, 2.0])\ns = t.sum()\n"),
        Valid("import torch\nt = torch.FloatTensor(array)\nt += 1\n"),
        Valid("import torch\nx = torch.empty(0)\nx = torch.cat([x, y])\n"),
        Valid("import torch\nx = torch.empty(2, 2)\nx.copy_(src)\nx += 1\n"),
        Valid("import torch\nself_w = torch.empty(3)\nprint(self_w.shape)\n"),
    ]
    INVALID = [
        Invalid("import torch\ntotal = torch.empty(10)\nfor y in labels:\n    total[y] += 1\n", line=4),
        Invalid("import torch\nacc = torch.empty(3, 4)\nacc += x\n", line=3),
        Invalid("import torch\nh = torch.Tensor(64, 128)\nout = h @ w\n", line=3),
        Invalid("import torch\ndef f(x):\n    buf = torch.empty_like(x)\n    buf.add_(x)\n    return buf\n", line=4),
        Invalid("import torch\ns = torch.FloatTensor(5)\nprint(s.sum())\n", line=3),
        Invalid("import torch\nm = torch.empty(n.size(0), 2)\nloss = (m - target).pow(2).mean()\n", line=3),
        Invalid("import torch\nconf = torch.cuda.LongTensor(10, 10)\nfor t, p in zip(ys, ps):\n    conf[t, p] += 1\n", line=4),
        Invalid("import torch\ngrad = torch.empty(3)\ngrad.mul_(0.9)\n", line=3),
    ]

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        call = node.value
        if not isinstance(call, cst.Call):
            return
        names = self.context.names
        if names.matches(call.func, _EMPTY):
            if any(numeric_value(a.value) == 0 for a in call.args if a.keyword is None):
                return
        elif not (names.matches(call.func, LEGACY_TENSOR_CLASSES) and _sized(call)):
            return
        name = node.targets[0].target.value
        use = self._first_use(node, name)
        if use is not None:
            ctor = self.context.code(call.func)
            self.report(use[0], self.message.format(name=name, ctor=ctor, use=use[1]))

    def _first_use(self, assign: cst.Assign, name: str) -> tuple[cst.CSTNode, str] | None:
        """The first use of ``name`` after ``assign``, when it reads the values: the node to report
        and a phrase."""
        flow = self.context.semantic.binding_function(self.context.ancestors).frame
        start = flow.position(assign)
        candidates: list[cst.CSTNode] = [n for n in flow.reads.get(name, []) if flow.position(n) > start]
        candidates += [b.target for b in flow.bindings_of(name) if b.position > start and b.node is not assign]
        if not candidates:
            return None
        first = min(candidates, key=flow.position)
        parent_of = self.context.semantic.parent
        parent = parent_of(first)
        if isinstance(parent, cst.Subscript) and parent.value is first:
            first, parent = parent, parent_of(parent)
            if isinstance(parent, cst.AugAssign) and parent.target is first:
                return parent, "accumulates into"
            return None  # an element written (a partial fill) or read: cannot tell
        if isinstance(parent, cst.AugAssign) and parent.target is first:
            return parent, "accumulates into"
        if isinstance(parent, cst.Attribute) and parent.value is first:
            call = parent_of(parent)
            if isinstance(call, cst.Call) and call.func is parent:
                method = parent.attr.value
                if method in _ACCUMULATING:
                    return call, "accumulates into"
                if method in _READING:
                    return call, "reads"
            return None
        if isinstance(parent, cst.BinaryOperation):
            return parent, "reads"
        return None
