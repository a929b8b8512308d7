from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.activations import activated_loss, activation_input_source
from dlsan.lint.rule import FixSpec, Invalid, Replace, Rule, Valid

_WITH_LOGITS = frozenset({"torch.nn.functional.binary_cross_entropy_with_logits"})
_WITH_LOGITS_LOSS = frozenset({"torch.nn.BCEWithLogitsLoss", "torch.nn.modules.loss.BCEWithLogitsLoss"})


class SigmoidBeforeBceWithLogits(Rule):
    """
    ## What it does
    Flags `nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits` given the output of a
    sigmoid: directly, through a variable, or from a same-file model whose `forward` ends in one.

    ## Why is this bad?
    The with-logits loss applies the sigmoid itself, so the prediction goes through two
    sigmoids: every input lands in (0.5, 0.73), the loss can never approach zero and its gradients
    are squashed. The model trains worse and its outputs are no longer calibrated probabilities,
    with no error anywhere.

    ## Example
    ```python
    criterion = nn.BCEWithLogitsLoss()
    loss = criterion(torch.sigmoid(model(x)), y)
    ```

    ## Use instead
    ```python
    criterion = nn.BCEWithLogitsLoss()
    loss = criterion(model(x), y)
    ```

    ## Fix safety
    Unsafe: the fix (offered when the sigmoid is written in the loss call) drops the sigmoid;
    the loss values and the training change, as intended.
    """

    code = "DLS508"
    name = "sigmoid-before-bce-with-logits"
    message = (
        "`BCEWithLogitsLoss` applies a sigmoid itself but is given the output of {what}, so the "
        "sigmoid is applied twice and the gradients are wrong; pass the logits"
    )

    VALID = [
        Valid("import torch.nn.functional as F\nloss = F.binary_cross_entropy_with_logits(logits, y)\n"),
        Valid("import torch\nimport torch.nn as nn\ncrit = nn.BCEWithLogitsLoss()\nloss = crit(out, y)\npred = torch.sigmoid(out) > 0.5\n"),
        Valid("import torch\nimport torch.nn.functional as F\nloss = F.binary_cross_entropy(torch.sigmoid(z), y)\n"),
        Valid("import torch\nimport torch.nn as nn\ncrit = nn.BCEWithLogitsLoss()\nloss = crit(model(x), torch.sigmoid(teacher(x)))\n"),
        Valid("import torch\nimport torch.nn as nn\ncrit = nn.BCEWithLogitsLoss()\nz = torch.sigmoid(a)\nz = head(z)\nloss = crit(z, y)\n"),
        Valid("import torch.nn as nn\nclass Net(nn.Module):\n    def forward(self, x):\n        return self.fc(x)\nnet = Net()\nloss = nn.BCEWithLogitsLoss()(net(x), y)\n"),
        Valid("import torch.nn as nn\ncrit = nn.BCEWithLogitsLoss(pos_weight=w)\nloss = crit(logits.squeeze(1), y.float())\n"),
        Valid("import torch\nloss = torch.nn.functional.binary_cross_entropy_with_logits(x.softmax(-1), y)\n"),
    ]
    INVALID = [
        Invalid("import torch\nimport torch.nn as nn\ncrit = nn.BCEWithLogitsLoss()\nloss = crit(torch.sigmoid(model(x)), y)\n",
                line=4, fixed="import torch\nimport torch.nn as nn\ncrit = nn.BCEWithLogitsLoss()\nloss = crit(model(x), y)\n"),
        Invalid("import torch.nn.functional as F\nloss = F.binary_cross_entropy_with_logits(out.sigmoid(), y)\n", line=2,
                fixed="import torch.nn.functional as F\nloss = F.binary_cross_entropy_with_logits(out, y)\n"),
        Invalid("import torch\nimport torch.nn as nn\ncrit = nn.BCEWithLogitsLoss()\nprobs = torch.sigmoid(logits)\nloss = crit(probs, y)\n",
                line=5),
        Invalid("""
            import torch
            import torch.nn as nn
            class Net(nn.Module):
                def forward(self, x):
                    return torch.sigmoid(self.fc(x))
            net = Net()
            loss = nn.BCEWithLogitsLoss()(net(x), y)
        """, line=7),
        Invalid("""
            import torch.nn as nn
            class Disc(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.main = nn.Sequential(nn.Linear(64, 1), nn.Sigmoid())
                def forward(self, x):
                    return self.main(x).view(-1)
            netD = Disc()
            criterion = nn.BCEWithLogitsLoss()
            errD = criterion(netD(real), label)
        """, line=10),
        Invalid("import torch\nfrom torch.nn.functional import binary_cross_entropy_with_logits as bce\nloss = bce(torch.special.expit(z), t)\n",
                line=3),
        Invalid("import torch\nfrom torch import nn\nloss_fn = nn.BCEWithLogitsLoss(reduction='none')\nper_px = loss_fn(torch.sigmoid(mask_logits), masks)\n",
                line=4),
        Invalid("""
            import torch.nn as nn
            class Lit(pl.LightningModule):
                def __init__(self):
                    super().__init__()
                    self.crit = nn.BCEWithLogitsLoss()
                    self.act = nn.Sigmoid()
                def training_step(self, batch, i):
                    x, y = batch
                    return self.crit(self.act(self.backbone(x)), y)
        """, line=9),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        activated = activated_loss(self.context, node, _WITH_LOGITS, _WITH_LOGITS_LOSS)
        if activated is None or activated[1].kind != "sigmoid":
            return
        found = activated[1]
        what = f"`{found.model_class}`, whose forward ends in a sigmoid" if found.model_class else "a sigmoid"
        fix = None
        if found.inline_call is not None:
            logits = activation_input_source(self.context, found.inline_call)
            if logits is not None:
                fix = FixSpec("Drop the sigmoid", [Replace(found.inline_call, logits)])
        self.report(node, self.message.format(what=what), fix=fix)
