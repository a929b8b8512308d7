from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.activations import LossCall, activated_loss, ending
from dlsan.lint.calls import keyword_arg, positional_args
from dlsan.lint.rule import Invalid, Rule, Valid

_NLL = frozenset({"torch.nn.functional.nll_loss"})
_NLL_LOSS = frozenset({"torch.nn.NLLLoss", "torch.nn.modules.loss.NLLLoss"})
_LOG = frozenset({"torch.log"})


class NllLossOnProbabilities(Rule):
    """
    ## What it does
    Flags `nn.NLLLoss` / `F.nll_loss` given the output of a softmax (directly, through a
    variable, or from a same-file model whose `forward` ends in a softmax), and
    `torch.log(softmax(x))` / `softmax(x).log()`. With `reduction="none"` the call is left alone:
    real code uses it on probabilities on purpose, to gather `-p` of the target class for focal
    weights.

    ## Why is this bad?
    `nll_loss` expects log-probabilities: on probabilities it computes `-p[target]`, a loss that
    is bounded, badly scaled and whose gradient does not push the model towards the right class
    as cross-entropy does; the model trains, just badly. `log(softmax(x))` is the right value but
    underflows to `-inf` (and NaN gradients) as soon as a probability rounds to zero, which
    `log_softmax` avoids with the log-sum-exp trick.

    ## Example
    ```python
    loss = F.nll_loss(F.softmax(logits, dim=1), target)
    log_probs = torch.log(F.softmax(logits, dim=-1))
    ```

    ## Use instead
    ```python
    loss = F.nll_loss(F.log_softmax(logits, dim=1), target)   # or F.cross_entropy(logits, target)
    log_probs = F.log_softmax(logits, dim=-1)
    ```
    """

    code = "DLS507"
    name = "nll-loss-on-probabilities"
    message = (
        "`nll_loss` expects log-probabilities but is given the output of {what}, which makes a "
        "badly scaled loss; use `log_softmax` (or `cross_entropy` on the logits)"
    )
    message_log = (
        "`log` of a softmax underflows to -inf (NaN gradients) when a probability rounds to zero; "
        "use `log_softmax(x, dim)`, which computes the same value stably"
    )

    VALID = [
        Valid("import torch.nn.functional as F\nloss = F.nll_loss(F.log_softmax(logits, dim=1), y)\n"),
        Valid("import torch.nn as nn\ncrit = nn.NLLLoss()\nloss = crit(torch.log_softmax(out, 1), y)\n"),
        Valid("import torch\nimport torch.nn.functional as F\nlogp = F.log_softmax(z, dim=-1)\n"),
        Valid("import torch\nimport torch.nn.functional as F\nlogp = torch.log(F.softmax(z, dim=-1) + 1e-8)\n"),
        Valid("import numpy as np\nlogp = np.log(softmax(z))\n"),
        Valid("import torch\nimport torch.nn.functional as F\nloss = F.nll_loss(model(x), y)\n"),
        Valid("import torch\nimport torch.nn.functional as F\nprobs = F.softmax(z, 1)\nacc = (probs.argmax(1) == y).float().mean()\n"),
        Valid("import torch\nimport torch.nn.functional as F\nkl = F.kl_div(torch.log_softmax(s, 1), F.softmax(t, 1))\n"),
        Valid("import math\nimport torch\nx = math.log(torch.softmax(z, 0)[0].item())\n"),
        # the focal-frequency weights of several segmentation repositories: -p, then 1 - p
        Valid("import torch.nn.functional as F\nff = F.nll_loss(F.softmax(x, dim=1), t, reduction='none')\nff += 1.0\n"),
    ]
    INVALID = [
        Invalid("import torch.nn.functional as F\nloss = F.nll_loss(F.softmax(logits, dim=1), y)\n", line=2),
        Invalid("import torch\nimport torch.nn as nn\ncrit = nn.NLLLoss()\nprobs = torch.softmax(out, 1)\nloss = crit(probs, y)\n",
                line=5),
        Invalid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def forward(self, x):
                    return F.softmax(self.fc(x), dim=1)
            model = Net()
            loss = F.nll_loss(model(x), target)
        """, line=7),
        Invalid("import torch\nimport torch.nn.functional as F\nlogp = torch.log(F.softmax(z, dim=-1))\n", line=3),
        Invalid("import torch\nlogp = torch.softmax(z, dim=1).log()\n", line=2),
        Invalid("import torch\nimport torch.nn.functional as F\np = F.softmax(scores, dim=-1)\nlogp = torch.log(p)\n",
                line=4),
        Invalid("import torch.nn as nn\nfrom torch.nn import functional as F\nloss = nn.NLLLoss(weight=w)(F.softmax(out, 1), y)\n",
                line=3),
        Invalid("""
            import torch
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.head = nn.Sequential(nn.Linear(10, 3), nn.Softmax(dim=1))
                    self.loss = nn.NLLLoss()
                def training_step(self, x, y):
                    return self.loss(self.head(x), y)
        """, line=9),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        activated = activated_loss(self.context, node, _NLL, _NLL_LOSS)
        if activated is not None and not self._per_element(node, activated[0]):
            fed = activated[1]
            if fed.kind == "softmax":
                what = f"`{fed.model_class}`, whose forward ends in a softmax" if fed.model_class else "a softmax"
                self.report(node, self.message.format(what=what))
            return
        argument = self._log_argument(node)
        if argument is None:
            return
        found = ending(self.context, argument, self.context.enclosing(cst.ClassDef))
        if found is not None and found.kind == "softmax":
            self.report(node, self.message_log)

    def _per_element(self, node: cst.Call, loss: LossCall) -> bool:
        """``reduction="none"`` (or the old ``reduce=False``): ``nll_loss`` used to gather ``-p`` of
        the target class, as focal-style weights do (``1 - p`` after ``+= 1``), not as a loss."""
        built = loss.loss.expr if loss.loss is not None and isinstance(loss.loss.expr, cst.Call) else None
        for call in (node, built):
            if call is None:
                continue
            reduction, reduce = keyword_arg(call, "reduction"), keyword_arg(call, "reduce")
            if reduction is not None and isinstance(reduction.value, cst.SimpleString) \
                    and reduction.value.evaluated_value == "none":
                return True
            if reduce is not None and isinstance(reduce.value, cst.Name) and reduce.value.value == "False":
                return True
        return False

    def _log_argument(self, node: cst.Call) -> cst.BaseExpression | None:
        """``p`` in ``torch.log(p)`` and ``p.log()``."""
        if self.context.names.matches(node.func, _LOG):
            args = positional_args(node)
            return args[0].value if len(args) == 1 and len(node.args) == 1 else None
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "log" and not node.args:
            return node.func.value
        return None
