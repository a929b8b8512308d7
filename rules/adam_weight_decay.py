from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.nodes import callee_among
from dlsan.lint.calls import get_arg
from dlsan.lint.catalog.torch_api import ADAM
from dlsan.lint.rule import FixSpec, Invalid, Replace, Rule, Valid
from dlsan.lint.semantic.objects import number_value

#: Adam(params, lr, betas, eps, weight_decay, ...)
_WEIGHT_DECAY_POSITION = 4


class AdamWeightDecay(Rule):
    """
    ## What it does
    Flags `torch.optim.Adam` constructed with a non-zero `weight_decay`.

    The `Adam` must be known to be torch's where it is called: not `optax.adam` or Keras' `Adam`
    (which decouples its decay), also not a name star-imported from both, or imported from Keras
    inside a function of a torch file.

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
        Valid("import torch\nWD = 0.0\nopt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=WD)"),
        Valid("import functools, torch\nmake_opt = functools.partial(torch.optim.Adam, lr=3e-4)"),
        Valid(
            "import torch\n"
            "groups = [{'params': decay, 'weight_decay': 0.01}, {'params': no_decay, 'weight_decay': 0.0}]\n"
            "opt = torch.optim.AdamW(groups, lr=1e-3)\n"
        ),
        Valid("import torch\nopt = torch.optim.Adam([{'params': enc.parameters(), 'lr': 1e-4}, {'params': head.parameters()}])"),
        # other frameworks' Adam in files that import torch too
        Valid("""
            import torch
            import optax
            import tensorflow as tf
            jax_opt = optax.adam(1e-3)
            keras_opt = tf.keras.optimizers.Adam(learning_rate=1e-3, weight_decay=1e-4)
        """),
        Valid("""
            from torch.optim import *
            from tensorflow.keras.optimizers import *
            opt = Adam(learning_rate=1e-3, weight_decay=1e-4)
        """),
        Valid("""
            from torch.optim import Adam

            def keras_optimizer():
                from keras.optimizers import Adam
                return Adam(learning_rate=1e-3, weight_decay=1e-4)
        """),
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
        Invalid(
            "import functools\nimport torch\n"
            "optimizer_factory = functools.partial(torch.optim.Adam, lr=1e-3, weight_decay=1e-4)\n",
            line=3,
            fixed="import functools\nimport torch\n"
            "optimizer_factory = functools.partial(torch.optim.AdamW, lr=1e-3, weight_decay=1e-4)\n",
        ),
        Invalid(
            "from functools import partial\nfrom torch.optim import Adam\nmake = partial(Adam, weight_decay=5e-4)\n",
            line=3,
        ),
        Invalid(
            "import torch\nWEIGHT_DECAY = 1e-4\n\ndef build(model):\n"
            "    return torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=WEIGHT_DECAY)\n",
            line=5,
        ),
        Invalid(
            "import torch\n\ndef configure_optimizers(self):\n"
            "    groups = [\n"
            "        {'params': self.backbone.parameters(), 'lr': 1e-4, 'weight_decay': 1e-5},\n"
            "        {'params': self.head.parameters(), 'lr': 1e-3},\n"
            "    ]\n"
            "    return torch.optim.Adam(groups)\n",
            line=8,
        ),
        Invalid("import torch as T\nAdam = T.optim.Adam\nopt = Adam(net.parameters(), weight_decay=1e-3)\n", line=3),
        Invalid("""
            from torch.optim import Adam

            def keras_optimizer():
                from keras.optimizers import Adam
                return Adam(learning_rate=1e-3, weight_decay=1e-4)

            opt = Adam(model.parameters(), weight_decay=1e-4)
        """, line=7),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        called = callee_among(self.context, node, ADAM)
        if called is None:
            return
        adam, offset = called
        if not (self._decays(get_arg(node, "weight_decay", _WEIGHT_DECAY_POSITION + offset))
                or self._group_decays(get_arg(node, "params", offset))):
            return
        fix = None
        if isinstance(adam, cst.Attribute) and adam.attr.value == "Adam":
            fix = FixSpec("Use `AdamW`", [Replace(adam.attr, "AdamW")])
        self.report(node, fix=fix)

    def _decays(self, decay: cst.Arg | None) -> bool:
        if decay is None:
            return False
        value = number_value(self.context, decay.value)
        return value is not None and value != 0

    def _group_decays(self, params: cst.Arg | None) -> bool:
        """A parameter-group list literal (``[{"params": ..., "weight_decay": 1e-4}, ...]``, written
        in the call or assigned to a name) in which some group sets a non-zero decay."""
        groups: cst.BaseExpression | None = params.value if params is not None else None
        if isinstance(groups, cst.Name):
            found = self.context.semantic.value_at(groups)
            groups = found.expr if found is not None else None
        if not isinstance(groups, (cst.List, cst.Tuple)):
            return False
        for element in groups.elements:
            if not isinstance(element.value, cst.Dict):
                continue
            for item in element.value.elements:
                if (isinstance(item, cst.DictElement) and isinstance(item.key, cst.SimpleString)
                        and item.key.evaluated_value == "weight_decay"):
                    value = number_value(self.context, item.value)
                    if value is not None and value != 0:
                        return True
        return False
