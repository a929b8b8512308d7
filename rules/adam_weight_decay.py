from __future__ import annotations

import libcst as cst

from dlsan.lint.calls import get_arg, numeric_value
from dlsan.lint.rule import FixSpec, Invalid, Replace, Rule, Valid

_ADAM = {"torch.optim.Adam", "torch.optim.adam.Adam"}
#: Adam(params, lr, betas, eps, weight_decay, ...)
_WEIGHT_DECAY_POSITION = 4


class AdamWeightDecay(Rule):
    """
    ## What it does
    Flags `torch.optim.Adam` constructed with a non-zero `weight_decay`.

    ## Why is this bad?
    Adam's `weight_decay` adds an L2 penalty to the gradient, which Adam then divides by its
    running second-moment estimate: weights with large gradients are barely decayed, weights with
    small gradients are decayed a lot. That is not the weight decay most recipes assume, and it
    regularises poorly (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019).
    `AdamW` applies the decay directly to the weights, decoupled from the adaptive step.

    ## Example
    ```python
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, weight_decay=0.01)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    ```

    ## Fix safety
    Unsafe: AdamW changes the optimisation (the best `weight_decay` for AdamW is usually larger
    than for Adam's L2 penalty), so retune it; checkpoints of the optimizer state still load.
    """

    code = "DLS501"
    name = "adam-weight-decay"
    message = (
        "`Adam(weight_decay=...)` adds L2 to the gradient, which Adam's adaptive scaling distorts; "
        "use `AdamW` for decoupled weight decay"
    )
    fix_applicability = "unsafe"

    VALID = [
        Valid("import torch\nopt = torch.optim.Adam(model.parameters(), lr=1e-3)"),
        Valid("import torch\nopt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0)"),
        Valid("import torch\nopt = torch.optim.Adam(model.parameters(), weight_decay=0.0)"),
        Valid("import torch\nopt = torch.optim.AdamW(model.parameters(), weight_decay=0.05)"),
        Valid("import torch\nopt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=5e-4)"),
        Valid("import torch\nopt = torch.optim.Adam(params, lr, (0.9, 0.999), 1e-8, 0)"),
        Valid("from keras.optimizers import Adam\nopt = Adam(weight_decay=0.01)"),
        Valid("import torch\nopt = torch.optim.Adam(model.parameters(), weight_decay=args.wd)"),
    ]
    INVALID = [
        Invalid(
            "import torch\nopt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)\n",
            line=2,
            fixed="import torch\nopt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)\n",
        ),
        Invalid(
            "from torch import optim\noptimizer = optim.Adam(net.parameters(), weight_decay=5e-4)\n",
            line=2,
            fixed="from torch import optim\noptimizer = optim.AdamW(net.parameters(), weight_decay=5e-4)\n",
        ),
        Invalid(
            "from torch import optim as O\nopt = O.Adam(params, lr=3e-4, weight_decay=0.01)\n",
            line=2,
            fixed="from torch import optim as O\nopt = O.AdamW(params, lr=3e-4, weight_decay=0.01)\n",
        ),
        Invalid("from torch.optim import Adam\nopt = Adam(model.parameters(), weight_decay=1e-2)\n", line=2),
        Invalid("import torch\nopt = torch.optim.Adam(params, 1e-3, (0.9, 0.999), 1e-8, 1e-4)\n", line=2),
        Invalid(
            "import torch\n\ndef configure_optimizers(self):\n"
            "    return torch.optim.Adam(\n        self.parameters(),\n        lr=self.hparams.lr,\n"
            "        weight_decay=1e-5,\n    )\n",
            line=4,
        ),
        Invalid("from torch.optim import *\nopt = Adam(model.parameters(), weight_decay=0.1)\n", line=2),
        Invalid("import torch.optim as optim\nopt = optim.Adam([{'params': w}], weight_decay=2e-5)\n", line=2),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not self.context.names.matches(node.func, _ADAM):
            return
        decay = get_arg(node, "weight_decay", _WEIGHT_DECAY_POSITION)
        if decay is None:
            return
        value = numeric_value(decay.value)
        if value is None or value == 0:
            return
        fix = None
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "Adam":
            fix = FixSpec("Use `AdamW`", [Replace(node.func.attr, "AdamW")])
        self.report(node, fix=fix)
