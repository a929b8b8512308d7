from __future__ import annotations

import libcst as cst

from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic.values import is_torch_tensor

#: out-of-place tensor methods: they return a new tensor and leave their receiver unchanged
_OUT_OF_PLACE = frozenset({
    "to", "cuda", "cpu", "float", "double", "half", "bfloat16", "long", "int", "bool", "type",
    "clamp", "clip", "squeeze", "unsqueeze", "view", "reshape", "flatten", "permute", "transpose", "t",
    "detach", "contiguous", "clone", "abs", "neg", "add", "sub", "mul", "div", "pow", "sqrt", "exp",
    "log", "masked_fill", "expand", "repeat", "type_as", "pin_memory",
})


class DiscardedTensorResult(Rule):
    """
    ## What it does
    Flags an out-of-place tensor method (`x.to(device)`, `x.cuda()`, `x.float()`,
    `x.clamp(0, 1)`, `x.squeeze()`, `x.view(...)`, `x.detach()` ...) written as a statement of its
    own, on a value known to be a tensor (built by torch, annotated `torch.Tensor`, a parameter).

    ## Why is this bad?
    These methods return a new tensor and leave the receiver as it was, so the statement does
    nothing: the batch stays on the CPU, the values stay unclamped, the graph stays attached.
    `nn.Module.to()` is in place, which makes the tensor form an easy slip; modules and values of
    unknown type are never flagged.
    In a notebook, a cell's last expression is the cell's output (`x.reshape(3, 2)` there shows
    the reshaped tensor), so it is not flagged unless a `;` hides the output; the same holds in a
    percent-format `.py` notebook (cells opened by `# %%`, as jupytext and VS Code write them).

    ## Example
    ```python
    x = torch.randn(8, 3)
    x.to(device)
    ```

    ## Use instead
    ```python
    x = x.to(device)          # or an in-place method: x.clamp_(0, 1), x.squeeze_()
    ```
    """

    code = "DLS604"
    name = "discarded-tensor-result"
    output_is_a_use = True  # a notebook cell ending in `x.view(6)` displays it
    message = (
        "`{method}()` returns a new tensor and leaves `{receiver}` unchanged, so this statement does "
        "nothing; assign the result (`{receiver} = {receiver}.{method}(...)`) or use an in-place method"
    )

    VALID = [
        Valid("import torch\nx = torch.randn(3)\nx = x.to(device)\n"),
        Valid("import torch\nmodel = torch.nn.Linear(3, 1)\nmodel.to(device)\n"),
        Valid("import torch\ndef f(batch):\n    batch.to(device)\n"),
        Valid("import torch\nx = torch.randn(3)\nx.clamp_(0, 1)\n"),
        Valid("import torch\nx = torch.randn(3)\nx.add_(1)\nx.squeeze_()\n"),
        Valid("import torch\nnet = Net()\nnet.cuda()\nnet.float()\n"),
        Valid("import torch\nx = torch.randn(3)\nprint(x.view(-1))\n"),
        Valid("import torch\nfor p in model.parameters():\n    p.data.clamp_(-0.01, 0.01)\n"),
        Valid("import torch\nx = torch.randn(3)\nx = load()\nx.to(device)\n"),
        # the last statement of a notebook cell (percent format) is displayed, not discarded
        Valid("import torch\n# %%\ny = torch.round(torch.rand(5, 1))\ny.squeeze()\n\n# %%\nprint(y)\n"),
    ]
    INVALID = [
        Invalid("import torch\nx = torch.randn(8, 3)\nx.to(device)\n", line=3),
        Invalid("import torch\n# %%\nx = torch.randn(3)\nx.to(device)\nprint(x)\n", line=4),
        Invalid("import torch\ndef step(images: torch.Tensor):\n    images.cuda()\n    return images\n", line=3),
        Invalid("import torch\nmask = torch.zeros(4, 4)\nmask.bool()\n", line=3),
        Invalid("import torch\nprobs = torch.softmax(logits, dim=-1)\nprobs.clamp(1e-6, 1.0)\n", line=3),
        Invalid("import torch\nfor p in model.parameters():\n    p.data.clamp(-0.01, 0.01)\n", line=3),
        Invalid("import torch\nh = torch.cat([a, b], dim=1)\nh.detach()\n", line=3),
        Invalid("import torch\nfrom torch import tensor\nlabels = tensor(y).long()\nlabels.squeeze()\n", line=4),
        Invalid("import torch\nx = torch.empty(2, 3)\nx.view(6)\n", line=3),
        Invalid("import torch\nw = torch.nn.Parameter(torch.ones(3))\nw.float()\n", line=3),
    ]

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                and call.func.attr.value in _OUT_OF_PLACE):
            return
        owner = call.func.value
        if isinstance(owner, cst.Attribute) and owner.attr.value == "data":  # p.data.clamp(...)
            known = is_torch_tensor(self.context, owner.value)
        else:
            known = is_torch_tensor(self.context, owner)
        if known:
            self.report(node, self.message.format(method=call.func.attr.value, receiver=self.context.code(owner)))
