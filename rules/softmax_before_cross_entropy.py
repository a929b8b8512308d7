from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.activations import Ending, activated_loss, activation_input_source
from dlsan.lint.rule import FixSpec, Invalid, Replace, Rule, Valid

_CROSS_ENTROPY = frozenset({"torch.nn.functional.cross_entropy"})
_CROSS_ENTROPY_LOSS = frozenset({"torch.nn.CrossEntropyLoss", "torch.nn.modules.loss.CrossEntropyLoss"})


class SoftmaxBeforeCrossEntropy(Rule):
    """
    ## What it does
    Flags `nn.CrossEntropyLoss` / `F.cross_entropy` applied to the output of `softmax` or
    `log_softmax`: directly, through a variable, or from a model of the same file whose `forward`
    ends in a softmax (`nn.Softmax` last in a `Sequential`, `self.softmax(...)` or `F.softmax`
    returned). The loss may be a loss module of the project (this file or one it imports) whose
    `forward` hands its input, as it came in or only rearranged (`view`, `transpose`, a mask
    selection), to cross-entropy.

    The loss and the softmax must be known to be torch's where they are written (not Keras' or a
    `softmax` star-imported from TensorFlow as well, not a `def softmax` of the file), and a tensor
    method's receiver must not be known to be another framework's array.

    ## Why is this bad?
    Cross-entropy applies `log_softmax` itself and expects raw logits. Fed probabilities, it
    computes `log_softmax(softmax(z))`: outputs squashed into [0, 1] give nearly uniform
    predictions, tiny gradients and a loss that stalls well above zero, with no error. Fed
    `log_softmax`, the second normalisation is a no-op that hides a mix-up with `nll_loss`.

    ## Example
    ```python
    probs = F.softmax(model(x), dim=1)
    loss = F.cross_entropy(probs, y)
    ```

    ## Use instead
    ```python
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    ```
    (or `F.nll_loss(F.log_softmax(logits, dim=1), y)`).

    ## Fix safety
    Unsafe: when the softmax is written inside the loss call, the fix removes it, which changes
    the loss values and the training dynamics (as intended).
    """

    code = "DLS502"
    name = "softmax-before-cross-entropy"
    message = (
        "cross-entropy is given the output of {what}, but it applies log_softmax itself and "
        "expects raw logits; pass the logits (or use `nll_loss` on `log_softmax`)"
    )
    #: a loss module of another project file may call the loss; the activation is written here
    requires = ("cross_entropy", "CrossEntropyLoss", "softmax", "Softmax")

    VALID = [
        Valid("""
            import torch.nn.functional as F
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        """),
        Valid("""
            import torch.nn.functional as F
            log_probs = F.log_softmax(model(x), dim=1)
            loss = F.nll_loss(log_probs, y)
        """),
        Valid("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def forward(self, x):
                    x = self.fc2(F.relu(self.fc1(x)))
                    return F.log_softmax(x, dim=1)

            model = Net()
            for data, target in loader:
                loss = F.nll_loss(model(data), target)
        """),
        Valid("""
            import torch.nn as nn
            criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
            for images, labels in loader:
                outputs = model(images)
                loss = criterion(outputs, labels)
                probs = outputs.softmax(dim=1)
        """),
        Valid("""
            import torch.nn as nn

            class Classifier(nn.Module):
                def forward(self, x):
                    logits = self.head(self.body(x))
                    if self.training:
                        return logits
                    return logits.softmax(-1)

            model = Classifier()
            loss = nn.CrossEntropyLoss()(model(x), y)
        """),
        Valid("""
            import torch.nn.functional as F
            def training_step(self, batch, batch_idx):
                x, y = batch
                logits = self(x)
                loss = F.cross_entropy(logits, y)
                self.log("acc", (logits.softmax(1).argmax(1) == y).float().mean())
                return loss
        """),
        Valid("""
            import torch.nn.functional as F
            probs = F.softmax(teacher(x) / T, dim=1)
            loss = F.cross_entropy(student(x), probs)
        """),
        Valid("""
            import torch.nn.functional as F
            out = F.softmax(z, dim=1)
            out = head(features)
            loss = F.cross_entropy(out, y)
        """),
        Valid("""
            import torch.nn as nn
            import torch.nn.functional as F

            class SoftTargetLoss(nn.Module):
                def forward(self, logits, target):
                    return F.cross_entropy(logits.log_softmax(1).exp(), target)

            class Distill(nn.Module):
                def forward(self, student, teacher):
                    return F.kl_div(student, teacher)

            loss = Distill()(F.log_softmax(s, dim=1), F.softmax(t, dim=1))
        """),
        Valid("""
            from transformers import AutoModelForSequenceClassification
            import torch.nn.functional as F
            outputs = model(**batch)
            loss = F.cross_entropy(outputs.logits, batch["labels"])
        """),
        # mixed-framework files: only torch's softmax into torch's cross-entropy counts
        Valid("""
            import torch
            import tensorflow as tf
            probs = tf.nn.softmax(keras_model(x))
            loss = tf.keras.losses.SparseCategoricalCrossentropy()(y, probs)
        """),
        Valid("""
            import torch
            from torch.nn.functional import *
            from tensorflow.nn import *
            probs = softmax(logits, 1)
            loss = cross_entropy(probs, y)
        """),
        Valid("""
            import torch
            from torch.nn.functional import *

            def softmax(X):
                X_exp = torch.exp(X)
                return X_exp / X_exp.sum(1, keepdim=True)

            def cross_entropy(y_hat, y):
                return -torch.log(y_hat[range(len(y_hat)), y])

            l = cross_entropy(softmax(net(X)), y)
        """),
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn.functional as F
            loss = F.cross_entropy(F.softmax(model(x), dim=1), y)
            """,
            line=2,
            fixed="""
            import torch.nn.functional as F
            loss = F.cross_entropy(model(x), y)
            """,
        ),
        Invalid("""
            import torch.nn.functional as F
            probs = F.softmax(model(x), dim=1)
            loss = F.cross_entropy(probs, y)
        """, line=3),
        Invalid("""
            import torch
            import torch.nn as nn
            criterion = nn.CrossEntropyLoss()
            for images, labels in train_loader:
                outputs = torch.softmax(model(images), dim=-1)
                loss = criterion(outputs, labels)
        """, line=6),
        Invalid("""
            import torch.nn as nn

            model = nn.Sequential(
                nn.Flatten(),
                nn.Linear(784, 128),
                nn.ReLU(),
                nn.Linear(128, 10),
                nn.Softmax(dim=1),
            )
            criterion = nn.CrossEntropyLoss()
            for x, y in loader:
                loss = criterion(model(x), y)
        """, line=12),
        Invalid("""
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(512, 10)
                    self.softmax = nn.Softmax(dim=1)

                def forward(self, x):
                    x = self.fc(x)
                    x = self.softmax(x)
                    return x

            net = Net().to(device)
            criterion = nn.CrossEntropyLoss()
            for x, y in loader:
                loss = criterion(net(x), y)
        """, line=17),
        Invalid("""
            import torch.nn.functional as F
            from torch import nn

            class TextClassifier(nn.Module):
                def forward(self, tokens):
                    hidden = self.encoder(self.embed(tokens)).mean(1)
                    return F.softmax(self.out(hidden), dim=-1)

            class Model(pl.LightningModule):
                def __init__(self):
                    super().__init__()
                    self.net = TextClassifier()

                def training_step(self, batch, batch_idx):
                    tokens, labels = batch
                    return F.cross_entropy(self.net(tokens), labels)
        """, line=16),
        Invalid("""
            import torch.nn.functional as F
            log_probs = F.log_softmax(logits, dim=-1)
            loss = F.cross_entropy(log_probs, targets)
        """, line=3),
        Invalid(
            """
            import torch.nn as nn
            loss = nn.CrossEntropyLoss()(scores.softmax(dim=1), labels)
            """,
            line=2,
            fixed="""
            import torch.nn as nn
            loss = nn.CrossEntropyLoss()(scores, labels)
            """,
        ),
        Invalid("""
            from torch.nn.functional import *
            def step(batch):
                out = softmax(net(batch["x"]), 1)
                return cross_entropy(out, batch["y"])
        """, line=4),
        Invalid("""
            import torch.nn as nn
            import torch.nn.functional as F

            class LabelLoss(nn.Module):
                def forward(self, logits, target):
                    return F.cross_entropy(logits, target, ignore_index=255)

            criterion = LabelLoss()
            for x, y in loader:
                loss = criterion(F.softmax(model(x), dim=1), y)
        """, line=10),
        # speedinghzl/Pytorch-Deeplab issue #2 (confirmed by the maintainer): train.py's
        # loss_calc applied LogSoftmax before loss.py's CrossEntropy2d, which calls F.cross_entropy
        Invalid("""
            import torch.nn as nn
            import torch.nn.functional as F

            class CrossEntropy2d(nn.Module):
                def forward(self, predict, target):
                    n, c, h, w = predict.size()
                    predict = predict.transpose(1, 2).transpose(2, 3).contiguous()
                    predict = predict[target.view(n, h, w, 1).repeat(1, 1, 1, c) >= 0].view(-1, c)
                    return F.cross_entropy(predict, target[target >= 0])

            def loss_calc(pred, label):
                criterion = CrossEntropy2d()
                pred = nn.LogSoftmax(dim=1)(pred)
                return criterion(pred, label)
        """, line=14),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        activated = activated_loss(self.context, node, _CROSS_ENTROPY, _CROSS_ENTROPY_LOSS)
        if activated is None or activated[1].kind == "sigmoid":
            return
        found = activated[1]
        self.report(node, self.message.format(what=_describe(found)), fix=self._fix(found))

    def _fix(self, found: Ending) -> FixSpec | None:
        if found.inline_call is None:
            return None
        logits = activation_input_source(self.context, found.inline_call)
        if logits is None:
            return None
        return FixSpec(f"Remove the `{found.kind}`", [Replace(found.inline_call, logits)])


def _describe(found: Ending) -> str:
    if found.model_class is not None:
        return f"`{found.model_class}`, whose forward ends in `{found.kind}`"
    return f"`{found.kind}`"
