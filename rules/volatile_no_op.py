from __future__ import annotations

import libcst as cst

from dlsan.lint.calls import keyword_arg
from dlsan.lint.rule import Invalid, Rule, Valid

_VARIABLE = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})


class VolatileNoOp(Rule):
    """
    ## What it does
    Flags `Variable(x, volatile=True)` (torch.autograd's `Variable`).

    ## Why is this bad?
    `volatile` has been ignored since PyTorch 0.4 (with a warning that is easy to miss): the
    evaluation it was meant to run without autograd records the graph after all, using more
    memory and time, and outputs still require gradients.

    ## Example
    ```python
    inputs = Variable(images, volatile=True)
    outputs = model(inputs)
    ```

    ## Use instead
    ```python
    with torch.no_grad():
        outputs = model(images)
    ```
    """

    code = "DLS305"
    name = "volatile-no-op"
    message = (
        "`volatile=True` has been ignored since PyTorch 0.4, so this runs with autograd on and "
        "records the graph; drop `Variable` and run the code under `with torch.no_grad():`"
    )

    VALID = [
        Valid("import torch\nwith torch.no_grad():\n    out = model(x)\n"),
        Valid("from torch.autograd import Variable\nx = Variable(t, requires_grad=False)\n"),
        Valid("from torch.autograd import Variable\nx = Variable(t, volatile=False)\n"),
        Valid("import torch\nx = Variable(t, volatile=True)\n"),
        Valid("from tensorflow import Variable\nx = Variable(t, volatile=True)\n"),
        Valid("import torch\nx = torch.tensor(t)\n"),
        Valid("from torch.autograd import Variable\nvolatile = True\nx = Variable(t)\n"),
        Valid("from torch.autograd import Variable\nx = Variable(t)\n"),
    ]
    INVALID = [
        Invalid("from torch.autograd import Variable\nx = Variable(t, volatile=True)\n", line=2),
        Invalid("import torch\nx = torch.autograd.Variable(t.cuda(), volatile=True)\n", line=2),
        Invalid("from torch.autograd import Variable as V\ninputs = V(images, volatile=True)\n", line=2),
        Invalid("import torch.autograd as ag\nx = ag.Variable(t, volatile=is_eval)\n", line=2),
        Invalid("from torch.autograd import Variable\ndef evaluate(model, loader):\n    for images, labels in loader:\n"
                "        images = Variable(images, volatile=True)\n        out = model(images)\n", line=4),
        Invalid("from torch.autograd import *\nx = Variable(t, volatile=True)\n", line=2),
        Invalid("from torch.autograd.variable import Variable\nx = Variable(t, requires_grad=False, volatile=True)\n",
                line=2),
        Invalid("import torch\nfrom torch.autograd import Variable\nlabels = Variable(y.cuda(non_blocking=True), volatile=True)\n",
                line=3),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        volatile = keyword_arg(node, "volatile")
        if volatile is None or (isinstance(volatile.value, cst.Name) and volatile.value.value == "False"):
            return
        if self.context.names.matches(node.func, _VARIABLE):
            self.report(node)
