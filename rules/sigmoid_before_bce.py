from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.activations import (
    LossCall,
    activated_loss,
    activation_input_source,
)
from dlsan.lint.analysis.nodes import uses_in
from dlsan.lint.rule import EditSpec, FixSpec, Invalid, Replace, Rule, Valid

_BCE = frozenset({"torch.nn.functional.binary_cross_entropy"})
_BCE_LOSS = frozenset({"torch.nn.BCELoss", "torch.nn.modules.loss.BCELoss"})
_WITH_LOGITS = {"binary_cross_entropy": "binary_cross_entropy_with_logits", "BCELoss": "BCEWithLogitsLoss"}


class SigmoidBeforeBce(Rule):
    """
    ## What it does
    Flags `nn.BCELoss` / `F.binary_cross_entropy` applied to the output of a sigmoid: directly,
    through a variable, or from a model of the same file whose `forward` ends in a sigmoid.

    The loss and the sigmoid must be known to be torch's where they are written (not
    `jax.nn.sigmoid`, not a `def binary_cross_entropy` of the file), and a tensor method's receiver
    must not be known to be another framework's array (an MXNet `NDArray.sigmoid()`).

    ## Why is this bad?
    `sigmoid` followed by `log` loses precision: for confident predictions the sigmoid rounds to
    exactly 0 or 1 in float32 (and much earlier under AMP, where `BCELoss` refuses to run), the log
    is clamped at -100 and the gradient vanishes or the loss turns into a constant.
    `BCEWithLogitsLoss` combines both with the log-sum-exp trick and is stable; it also takes a
    `pos_weight` for imbalanced data.

    ## Example
    ```python
    loss = F.binary_cross_entropy(torch.sigmoid(logits), targets)
    ```

    ## Use instead
    ```python
    loss = F.binary_cross_entropy_with_logits(logits, targets)
    ```

    ## Fix safety
    Unsafe: the fix (applied only when the sigmoid is written in the loss call and the loss object
    is used nowhere else) drops the sigmoid and switches to the with-logits loss. Values agree up
    to rounding, but code that relied on the loss's input being a probability must change too.
    """

    code = "DLS503"
    name = "sigmoid-before-bce"
    message = (
        "binary cross-entropy is given the output of {what}, which loses precision and saturates; "
        "pass the logits to `BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits` instead"
    )
    #: a loss module of another project file may call the loss; the activation is written here
    requires = ("binary_cross_entropy", "BCELoss", "sigmoid", "Sigmoid")

    VALID = [
        Valid("""
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(logits, targets)
        """),
        Valid("""
            import torch.nn as nn
            criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
            for x, y in loader:
                logits = model(x).squeeze(1)
                loss = criterion(logits, y)
                preds = torch.sigmoid(logits) > 0.5
        """),
        Valid("""
            import torch.nn as nn
            criterion = nn.BCELoss()
            for x, y in loader:
                loss = criterion(model(x), y)
        """),
        Valid("""
            import torch.nn.functional as F
            probs = mixup(y_a, y_b, lam)
            loss = F.binary_cross_entropy(probs, targets)
        """),
        Valid("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Discriminator(nn.Module):
                def forward(self, x):
                    return self.net(x).view(-1)

            netD = Discriminator()
            errD = F.binary_cross_entropy_with_logits(netD(real), label)
        """),
        Valid("""
            import torch
            import torch.nn.functional as F
            recon = torch.sigmoid(decoder(z))
            loss = F.mse_loss(recon, x)
        """),
        Valid("""
            import torch.nn.functional as F
            def vae_loss(recon_x, x, mu, logvar):
                bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
                kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
                return bce + kld
        """),
        Valid("""
            import torch.nn as nn

            class Scorer(nn.Module):
                def forward(self, x):
                    return self.fc(x).sigmoid()

            def fit(net, loader):
                loss_fn = nn.BCELoss()
                for xb, yb in loader:
                    loss = loss_fn(net(xb), yb)

            fit(Scorer(), loader)
            fit(make_model(), loader)
        """),
        Valid("""
            import torch.nn as nn
            loss_fn = nn.BCELoss()
            out = model(x)
            out = out.sigmoid()
            out = out.clamp(1e-6, 1 - 1e-6) if smooth else model(x)
            loss = loss_fn(out, y)
        """),
        Valid("""
            import torch.nn as nn

            class Head(nn.Module):
                def __init__(self, probabilities):
                    super().__init__()
                    layers = [nn.Linear(64, 1)]
                    if probabilities:
                        layers.append(nn.Sigmoid())
                    self.net = nn.Sequential(*layers)

                def forward(self, x):
                    return self.net(x)

            loss = nn.BCELoss()(Head(True)(x), y)
        """),
        # mixed-framework files: only torch's sigmoid into torch's BCE counts
        Valid("""
            import torch
            import jax
            import optax
            probs = jax.nn.sigmoid(logits)
            loss = optax.sigmoid_binary_cross_entropy(logits, labels).mean()
            bce = -(labels * jax.numpy.log(probs)).mean()
        """),
        Valid("""
            import numpy as np
            import torch
            from torch import *
            from torch.nn.functional import *

            def binary_cross_entropy(p, y):
                return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()

            val_bce = binary_cross_entropy(torch.sigmoid(logits), labels)
        """),
        Valid("""
            import torch.nn as nn
            from mxnet import nd
            criterion = nn.BCELoss()
            scores = nd.array(batch)
            loss = criterion(scores.sigmoid(), labels)
        """),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            loss = F.binary_cross_entropy(torch.sigmoid(logits), targets)
            """,
            line=3,
            fixed="""
            import torch
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(logits, targets)
            """,
        ),
        Invalid(
            """
            import torch.nn as nn
            def train_epoch(model, loader, optimizer):
                criterion = nn.BCELoss()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x).squeeze(1).sigmoid(), y.float())
                    loss.backward()
                    optimizer.step()
            """,
            line=6,
            fixed="""
            import torch.nn as nn
            def train_epoch(model, loader, optimizer):
                criterion = nn.BCEWithLogitsLoss()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x).squeeze(1), y.float())
                    loss.backward()
                    optimizer.step()
            """,
        ),
        Invalid("""
            import torch
            import torch.nn as nn
            criterion = nn.BCELoss()
            probs = torch.sigmoid(model(x))
            loss = criterion(probs, y)
            acc = ((probs > 0.5) == y).float().mean()
        """, line=5),
        Invalid("""
            import torch.nn as nn

            class Discriminator(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.main = nn.Sequential(
                        nn.Conv2d(64, 1, 4, 1, 0, bias=False),
                        nn.Sigmoid(),
                    )

                def forward(self, x):
                    return self.main(x).view(-1, 1).squeeze(1)

            netD = Discriminator()
            criterion = nn.BCELoss()
            errD_real = criterion(netD(real_cpu), label)
        """, line=16),
        Invalid("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Scorer(nn.Module):
                def forward(self, a, b):
                    score = (self.proj(a) * b).sum(-1)
                    return torch.sigmoid(score)

            scorer = Scorer()
            loss = F.binary_cross_entropy(scorer(users, items), clicks)
        """, line=11),
        Invalid(
            """
            import torch
            import torch.nn as nn
            loss = nn.BCELoss(weight=w)(torch.sigmoid(logits), y)
            """,
            line=3,
            fixed="""
            import torch
            import torch.nn as nn
            loss = nn.BCEWithLogitsLoss(weight=w)(logits, y)
            """,
        ),
        Invalid("""
            import torch.nn as nn
            class Model(pl.LightningModule):
                def __init__(self):
                    super().__init__()
                    self.loss = nn.BCELoss()
                    self.act = nn.Sigmoid()

                def training_step(self, batch, batch_idx):
                    x, y = batch
                    return self.loss(self.act(self.backbone(x)), y)
        """, line=10),
        Invalid("""
            import torch.nn as nn

            class ChurnNet(nn.Module):
                def __init__(self, features):
                    super().__init__()
                    self.hidden = nn.Linear(features, 32)
                    self.out = nn.Linear(32, 1)
                    self.act = nn.Sigmoid()

                def forward(self, x):
                    x = self.act(self.out(self.hidden(x).relu()))
                    return x

            def fit(net, loader, epochs=5):
                loss_fn = nn.BCELoss()
                for _ in range(epochs):
                    for xb, yb in loader:
                        loss = loss_fn(net(xb), yb)

            net = ChurnNet(20)
            fit(net, train_loader, epochs=10)
        """, line=18),
        Invalid("""
            from torch.nn.functional import binary_cross_entropy
            import torch
            loss = binary_cross_entropy(torch.special.expit(z), t)
        """, line=3),
        Invalid("""
            import torch.nn as nn

            class Discriminator(nn.Module):
                def __init__(self):
                    super().__init__()
                    layers = []
                    for cin, cout in ((784, 512), (512, 256)):
                        layers.append(nn.Linear(cin, cout))
                        layers.append(nn.LeakyReLU(0.2))
                    layers.append(nn.Linear(256, 1))
                    layers.append(nn.Sigmoid())
                    self.model = nn.Sequential(*layers)

                def forward(self, x):
                    return self.model(x.flatten(1))

            netD = Discriminator()
            loss = nn.BCELoss()(netD(real), ones)
        """, line=18),
        Invalid(
            """
            import torch
            from torch import nn
            bce = nn.BCELoss(reduction="none")
            per_pixel = bce(torch.sigmoid(mask_logits), mask_targets)
            """,
            line=4,
            fixed="""
            import torch
            from torch import nn
            bce = nn.BCEWithLogitsLoss(reduction="none")
            per_pixel = bce(mask_logits, mask_targets)
            """,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        activated = activated_loss(self.context, node, _BCE, _BCE_LOSS)
        if activated is None or activated[1].kind != "sigmoid":
            return
        loss, found = activated
        what = f"`{found.model_class}`, whose forward ends in a sigmoid" if found.model_class else "a sigmoid"
        fix = None
        if found.inline_call is not None:
            fix = self._fix(node, loss, found.inline_call)
        self.report(node, self.message.format(what=what), fix=fix)

    def _fix(self, node: cst.Call, loss: LossCall, sigmoid: cst.Call) -> FixSpec | None:
        logits = activation_input_source(self.context, sigmoid)
        rename = self._loss_rename(node, loss)
        if logits is None or rename is None:
            return None
        edits: list[EditSpec] = [rename, Replace(sigmoid, logits)]
        return FixSpec("Drop the sigmoid and use the with-logits loss", edits)

    def _loss_rename(self, node: cst.Call, loss: LossCall) -> Replace | None:
        """Renaming the loss to its with-logits form, when nothing else uses that loss object."""
        built = loss.loss.expr if loss.loss is not None else None
        loss_func = node.func if loss.functional else built.func if isinstance(built, cst.Call) else None
        if not isinstance(loss_func, cst.Attribute) or loss_func.attr.value not in _WITH_LOGITS:
            return None
        if not loss.functional:
            scope = loss.scope
            shared = isinstance(node.func, cst.Name) and (
                loss.loss is None or loss.loss.scope.frame.node is not scope or uses_in(self.context, scope, node.func.value) != 2
            )
            if shared or not isinstance(node.func, (cst.Name, cst.Call)):
                return None
        return Replace(loss_func.attr, _WITH_LOGITS[loss_func.attr.value])
