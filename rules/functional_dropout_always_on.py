from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.functions import is_module_class
from dlsan.lint.calls import get_arg, has_unpacking, numeric_value
from dlsan.lint.names import is_self_member
from dlsan.lint.rule import Invalid, Rule, Valid

_F = "torch.nn.functional."
#: functional dropouts: ``F.dropout(input, p=0.5, training=True, inplace=False)``
_DROPOUTS = frozenset(_F + name for name in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                                             "feature_alpha_dropout"))
_TRAINING_POSITION = 2
_SDPA = frozenset({_F + "scaled_dot_product_attention"})
#: ``F.scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, ...)``
_DROPOUT_P_POSITION = 4


def _mentions_training(node: cst.CSTNode) -> bool:
    """Whether ``node`` reads ``training`` (``self.training``, a ``training`` flag, ``is_training``)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Name) and "training" in item.value:
            return True
        stack.extend(item.children)
    return False


class FunctionalDropoutAlwaysOn(Rule):
    """
    ## What it does
    Flags, in the methods of an `nn.Module`, `F.dropout` / `dropout1d` / `dropout2d` /
    `dropout3d` / `alpha_dropout` / `feature_alpha_dropout` called without `training=`, and
    `F.scaled_dot_product_attention(..., dropout_p=p)` whose `p` is not gated on `self.training`.

    ## Why is this bad?
    The functional dropouts default to `training=True`: unlike `nn.Dropout`, they do not follow
    `model.eval()`, so dropout stays on at evaluation and inference. Validation scores are noisy
    and too low, and predictions change from run to run. SDPA applies `dropout_p` whatever the
    module's mode. An explicit `training=True` (Monte-Carlo dropout) is deliberate and not flagged;
    neither is a call under `if self.training:`.

    ## Example
    ```python
    def forward(self, x):
        return self.fc2(F.dropout(F.relu(self.fc1(x)), p=0.5))
    ```

    ## Use instead
    ```python
    def forward(self, x):
        return self.fc2(F.dropout(F.relu(self.fc1(x)), p=0.5, training=self.training))
    ```
    (or an `nn.Dropout` layer; for SDPA, `dropout_p=self.p if self.training else 0.0`).
    """

    code = "DLS303"
    name = "functional-dropout-always-on"
    message = (
        "`{func}` defaults to `training=True`, so dropout stays on after `model.eval()` and "
        "evaluation is noisy; pass `training=self.training` (or use an `nn.Dropout` layer)"
    )
    message_sdpa = (
        "`scaled_dot_product_attention` applies `dropout_p` in every mode, so attention dropout "
        "stays on after `model.eval()`; pass `dropout_p=self.p if self.training else 0.0`"
    )

    VALID = [
        Valid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def forward(self, x):
                    return F.dropout(x, p=0.5, training=self.training)
        """),
        Valid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def forward(self, x):
                    return F.dropout(x, 0.5, self.training)
        """),
        Valid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class MCDropoutNet(nn.Module):
                def forward(self, x):
                    return F.dropout(x, p=0.2, training=True)
        """),
        Valid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def forward(self, x):
                    if self.training:
                        x = F.dropout(x, 0.1)
                    return x
        """),
        Valid("""
            import torch.nn.functional as F
            def augment(x):
                return F.dropout(x, 0.1)
        """),
        Valid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Attn(nn.Module):
                def forward(self, q, k, v):
                    p = self.dropout if self.training else 0.0
                    return F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        """),
        Valid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Attn(nn.Module):
                def forward(self, q, k, v):
                    return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        """),
        Valid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Attn(nn.Module):
                def forward(self, q, k, v, dropout_p):
                    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        """),
        Valid("""
            import torch.nn as nn
            class Net(nn.Module):
                def forward(self, x):
                    return self.dropout(x)
        """),
        Valid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def forward(self, x):
                    return F.dropout(x, p=self.p, training=self.training and self.use_dropout)
        """),
    ]
    INVALID = [
        Invalid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    x = F.dropout(x, p=0.5)
                    return self.fc2(x)
        """, line=6),
        Invalid("""
            import torch
            import torch.nn.functional as F
            class Block(torch.nn.Module):
                def forward(self, x):
                    return F.dropout2d(self.conv(x), 0.2)
        """, line=5),
        Invalid("""
            from torch import nn
            from torch.nn.functional import dropout
            class Head(nn.Module):
                def forward(self, h):
                    return self.out(dropout(h, self.p))
        """, line=5),
        Invalid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class SNN(nn.Module):
                def forward(self, x):
                    return F.alpha_dropout(F.selu(self.fc(x)), p=0.1)
        """, line=5),
        Invalid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Attn(nn.Module):
                def forward(self, q, k, v):
                    return F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout)
        """, line=5),
        Invalid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Attn(nn.Module):
                def forward(self, q, k, v, mask):
                    return F.scaled_dot_product_attention(q, k, v, mask, 0.1)
        """, line=5),
        Invalid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Base(nn.Module):
                pass
            class GCN(Base):
                def forward(self, x, adj):
                    x = F.dropout(x, self.dropout)
                    return self.gc2(x, adj)
        """, line=7),
        Invalid("""
            import pytorch_lightning as pl
            import torch.nn.functional as F
            class Lit(pl.LightningModule):
                def forward(self, x):
                    return F.dropout3d(x, p=0.3, inplace=False)
        """, line=5),
        Invalid("""
            import torch.nn as nn
            import torch.nn.functional as F
            class Attn(nn.Module):
                def forward(self, q, k, v):
                    drop = self.attn_drop
                    return F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        """, line=6),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        names = self.context.names
        dropout = names.matches(node.func, _DROPOUTS)
        if not dropout and not names.matches(node.func, _SDPA):
            return
        if has_unpacking(node) or not self._in_module_method() or self._under_training_branch():
            return
        if dropout:
            if get_arg(node, "training", _TRAINING_POSITION) is None:
                self.report(node, self.message.format(func=self.context.code(node.func)))
            return
        p = get_arg(node, "dropout_p", _DROPOUT_P_POSITION)
        if p is not None and self._ungated_rate(p.value):
            self.report(node, self.message_sdpa)

    def _in_module_method(self) -> bool:
        function = self.context.enclosing(cst.FunctionDef)
        cls = self.context.enclosing(cst.ClassDef)
        return function is not None and cls is not None and is_module_class(self.context, cls)

    def _under_training_branch(self) -> bool:
        return any(isinstance(node, (cst.If, cst.IfExp, cst.While)) and _mentions_training(node.test)
                   for node in self.context.ancestors)

    def _ungated_rate(self, value: cst.BaseExpression) -> bool:
        """A non-zero literal or a module attribute (``self.dropout``), directly or through one
        local assignment; anything mentioning ``training``, or unknown, is not flagged."""
        if isinstance(value, cst.Name):
            found = self.context.semantic.value_at(value)
            if found is None:
                return False
            value = found.expr
        if _mentions_training(value):
            return False
        number = numeric_value(value)
        if number is not None:
            return number != 0
        return is_self_member(value)
