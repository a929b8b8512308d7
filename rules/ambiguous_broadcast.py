from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.nodes import source_mentions
from dlsan.lint.analysis.shape_algebra import Shape, broadcast, broadcasts_both_ways
from dlsan.lint.analysis.shape_inference import called_layer, shape_of
from dlsan.lint.calls import get_arg
from dlsan.lint.catalog.torch_api import SHAPE_SENSITIVE_FUNCTIONAL_LOSSES, SHAPE_SENSITIVE_LOSS_MODULES
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic.values import Kind, value_of

_ELEMENTWISE = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power)
_COMPARISONS = (cst.Equal, cst.NotEqual, cst.LessThan, cst.GreaterThan, cst.LessThanEqual, cst.GreaterThanEqual)


#: the option that also reports element-wise arithmetic and comparisons outside losses
REPORT_ARITHMETIC = "report-arithmetic"
_ARITHMETIC = {REPORT_ARITHMETIC: True}


class AmbiguousBroadcast(Rule):
    """
    ## What it does
    Flags shape-sensitive losses (`mse_loss`, `l1_loss`, `smooth_l1_loss`, `huber_loss`,
    `binary_cross_entropy(_with_logits)` and their `nn` modules), and with the
    `report-arithmetic` option also element-wise arithmetic and comparisons, whose operands'
    locally inferred shapes broadcast both ways, such as `(N,)` with `(N, 1)`.

    Shapes come from the same function: literal constructors (`torch.randn(N, 1)`), shape
    methods (`view`, `unsqueeze`, `flatten`...), indexing, reductions, and models defined in the
    file whose last layer is known (`nn.Sequential(..., nn.Linear(h, 1))`). A layer applied to
    a tensor of unknown shape is assumed to receive a batch. When a shape is unknown, the rule
    says nothing.

    ## Why is this bad?
    Broadcasting `(N,)` against `(N, 1)` does not fail: it builds the `(N, N)` outer
    difference. A regression model that ends in `nn.Linear(h, 1)` scored with
    `F.mse_loss(model(x), y)` against targets `y` of shape `(N,)` compares every prediction with
    every target; the loss decreases a little, the model learns the mean, and nothing crashes.
    Accuracy computed as `(pred > 0.5) == y` is wrong the same way.

    An outer product written on purpose (`u[:, None] * v[None, :]`, `s.unsqueeze(1) - s`,
    `d.view(-1, 1) - o.view(1, -1)` (each side's singleton spelled out in its view),
    `x.unsqueeze(1).expand(n, m, d) - y.unsqueeze(0).expand(n, m, d)`, `x.expand(1, n)`, or two
    sizes known to differ, `(max_len, 1) * (d_model,)`) is not reported outside losses; a loss
    never wants one.

    Outside a torch loss (which takes tensors only), one operand must be known to be a torch
    tensor (built by torch, or computed from one) and the other must not be known to be anything
    but a tensor or an array: code whose objects are of unknown kind stays quiet.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    target = batch["price"].view(-1)
    loss = F.mse_loss(model(features), target)   # (B, 1) vs (B,) -> (B, B)
    ```

    ## Use instead
    ```python
    loss = F.mse_loss(model(features).squeeze(-1), target)
    ```

    ## Options
    `report-arithmetic` (default `false`): also report arithmetic and comparisons outside losses
    (`returns - values`, `(pred > 0.5) == y`, a hand-written `((X @ w - y) ** 2).mean()`). Off by
    default: on 52 public repositories all 10 such findings were outer products written on
    purpose, and the one form left after the fix (`x.view(B * C, -1, 1, 1) * torch.eye(t, t)`)
    has the very shape of the bug.
    ```toml
    [tool.dlsan.rule-options.DLS202]
    report-arithmetic = true
    ```
    """

    code = "DLS202"
    name = "ambiguous-broadcast"
    message = (
        "these shapes broadcast both ways (an `(N,)` against an `(N, 1)` gives `(N, N)`), so every "
        "element meets every other instead of its partner; make the shapes match, e.g. "
        "`.squeeze(-1)` the one with the trailing 1 or `.view(-1, 1)` the other"
    )
    options = {REPORT_ARITHMETIC: False}

    VALID = [
        Valid("""
            import torch
            u = torch.randn(5)
            v = torch.randn(7)
            outer = u[:, None] * v[None, :]
        """, options=_ARITHMETIC),
        Valid("""
            import torch
            import torch.nn.functional as F
            from torch import nn

            model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))

            def train_step(batch, optimizer):
                pred = model(batch["x"]).squeeze(-1)
                loss = F.mse_loss(pred, batch["y"].view(-1))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """, options=_ARITHMETIC),
        Valid("""
            import torch
            scores = torch.randn(batch_size)
            pairwise = scores.unsqueeze(1) - scores
        """, options=_ARITHMETIC),
        Valid("""
            import torch
            from torch import nn
            head = nn.Linear(64, 1)
            def loss_fn(features, labels):
                logits = head(features)
                return nn.BCEWithLogitsLoss()(logits, labels.float().view(-1, 1))
        """, options=_ARITHMETIC),
        Valid("""
            import torch
            x = torch.randn(N, D)
            centered = x - x.mean(0)
        """, options=_ARITHMETIC),
        Valid("""
            import torch
            import torch.nn.functional as F
            def training_step(self, batch, batch_idx):
                x, y = batch
                y_hat = self.model(x)
                return F.mse_loss(y_hat, y)
        """, options=_ARITHMETIC),
        Valid("""
            import torch
            a = torch.randn(16, 1)
            b = torch.randn(16, 1)
            err = (a - b).pow(2).mean()
        """, options=_ARITHMETIC),
        Valid("""
            import torch
            x = torch.randn(32, 3, 8, 8)
            mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
            normed = x - mean
        """, options=_ARITHMETIC),
        Valid("""
            import torch
            pos = torch.arange(seq_len)
            rel = pos[:, None] - pos[None, :]
        """, options=_ARITHMETIC),
        Valid("""
            import torch
            angles = torch.arange(max_len).view(-1, 1) * torch.linspace(0, 1, d_model)
        """, options=_ARITHMETIC),
        # outer products written with explicit views or expands
        Valid("""
            import torch
            x = torch.randn(n, d)
            y = torch.randn(m, d)
            sim = x.unsqueeze(1) * y.unsqueeze(0)
        """, options=_ARITHMETIC),
        Valid("""
            import torch
            def order_sim(im: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
                diff = (s.unsqueeze(1).expand(s.size(0), im.size(0), s.size(1))
                        - im.unsqueeze(0).expand(s.size(0), im.size(0), s.size(1)))
                return -diff.clamp(min=0).pow(2).sum(2).sqrt().t()
        """, options=_ARITHMETIC),
        Valid("""
            import torch
            pos = torch.arange(seq_len)
            rel = pos.expand(1, seq_len) - pos.view(seq_len, 1)
        """, options=_ARITHMETIC),
        # a target broadcast over the time steps on purpose, then compared element by element
        Valid("""
            import torch
            import torch.nn.functional as F
            pred = torch.randn(B, T)
            target = torch.randn(B)
            loss = F.mse_loss(pred, target.unsqueeze(1).expand_as(pred))
        """, options=_ARITHMETIC),
        # neither operand is known to be a torch tensor (an MXNet array's flatten() is 2-D)
        Valid("""
            import torch
            from mxnet import nd
            def residual(y_hat, y):
                return y_hat.reshape(-1, 1) - y.flatten()
        """, options=_ARITHMETIC),
        # pyg-team/pytorch_geometric torch_geometric/nn/models/schnet.py, GaussianSmearing: each
        # distance against each offset, both singletons spelled out in the views
        Valid("""
            import torch
            offset = torch.linspace(0.0, 5.0, 50)
            def smear(dist, coeff):
                dist = dist.view(-1, 1) - offset.view(1, -1)
                return torch.exp(coeff * torch.pow(dist, 2))
        """, options=_ARITHMETIC),
    ]
    INVALID = [
        # a view spells out only one side's singleton: the other is stretched over a missing dim
        Invalid("""
            import torch
            labels = torch.randint(0, 2, (n,))
            scores = torch.randn(n, 1)
            accuracy = ((scores.view(-1, 1) > 0) == labels).float().mean()
        """, line=4, options=_ARITHMETIC),
        Invalid("""
            import torch
            import torch.nn.functional as F
            from torch import nn

            model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))

            def train_step(batch, optimizer):
                pred = model(batch["x"])
                loss = F.mse_loss(pred, batch["y"].view(-1))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """, line=9),
        Invalid("""
            import torch
            pred = torch.randn(64, 1)
            target = torch.randn(64)
            residual = pred - target
        """, line=4, options=_ARITHMETIC),
        Invalid("""
            import torch
            from torch import nn

            class Regressor(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.body = nn.Sequential(nn.Linear(d, 64), nn.ReLU())
                    self.head = nn.Linear(64, 1)

                def forward(self, x):
                    return self.head(self.body(x))

            model = Regressor(13)
            criterion = nn.MSELoss()
            for xb, yb in loader:
                loss = criterion(model(xb), yb.flatten())
                loss.backward()
        """, line=16),
        Invalid("""
            import torch
            X = torch.randn(100, 3)
            y = torch.randn(100)
            w = torch.zeros(3, 1, requires_grad=True)
            loss = ((X @ w - y) ** 2).mean()
        """, line=5, options=_ARITHMETIC),
        Invalid("""
            import torch
            import pytorch_lightning as pl
            from torch import nn

            class LitRegressor(pl.LightningModule):
                def __init__(self):
                    super().__init__()
                    self.net = nn.Sequential(nn.Linear(20, 1))
                    self.loss = nn.SmoothL1Loss()

                def training_step(self, batch, batch_idx):
                    x, y = batch
                    return self.loss(self.net(x), y.reshape(-1))
        """, line=13),
        Invalid("""
            import torch
            from torch import nn
            clf = nn.Linear(128, 1)
            def accuracy(features, labels):
                preds = (torch.sigmoid(clf(features)) > 0.5).float()
                return (preds == labels.view(-1)).float().mean()
        """, line=6, options=_ARITHMETIC),
        Invalid("""
            import torch
            import torch.nn.functional as F
            logits = torch.randn(32, 1, requires_grad=True)
            labels = torch.randint(0, 2, (32,)).float()
            loss = F.binary_cross_entropy_with_logits(logits, labels)
        """, line=5),
        Invalid("""
            import torch
            values = critic(states).view(-1, 1)
            returns = torch.zeros(num_steps)
            advantages = returns - values
        """, line=4, options=_ARITHMETIC),
        Invalid("""
            import torch
            import torch.nn.functional as F
            pred = torch.rand(n)
            target = torch.rand(n).unsqueeze(1)
            loss = F.l1_loss(input=pred, target=target)
        """, line=5),
    ]

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if self.settings[REPORT_ARITHMETIC] and isinstance(node.operator, _ELEMENTWISE):
            self._check(node, node.left, node.right, loss=None)

    def visit_Comparison(self, node: cst.Comparison) -> None:
        if self.settings[REPORT_ARITHMETIC] and len(node.comparisons) == 1 and isinstance(node.comparisons[0].operator, _COMPARISONS):
            self._check(node, node.left, node.comparisons[0].comparator, loss=None)

    def visit_Call(self, node: cst.Call) -> None:
        loss = self._loss_name(node)
        if loss is None:
            return
        prediction, target = get_arg(node, "input", 0), get_arg(node, "target", 1)
        if prediction is not None and target is not None:
            self._check(node, prediction.value, target.value, loss=loss)

    def _loss_name(self, call: cst.Call) -> cst.BaseExpression | None:
        """The expression that names the loss ``call`` computes (its source goes in the message,
        written out only for a finding), if it is a shape-sensitive loss."""
        if self.context.names.matches(call.func, SHAPE_SENSITIVE_FUNCTIONAL_LOSSES):
            return call.func
        if not source_mentions(self.context, SHAPE_SENSITIVE_LOSS_MODULES):
            return None
        layer = called_layer(self.context, call.func, self.context.semantic.binding_function(self.context.ancestors).node)
        if isinstance(layer, cst.Call) and self.context.names.matches(layer.func, SHAPE_SENSITIVE_LOSS_MODULES):
            return layer.func
        return None

    def _check(self, node: cst.CSTNode, left: cst.BaseExpression, right: cst.BaseExpression,
               loss: cst.BaseExpression | None) -> None:
        scope = self.context.semantic.binding_function(self.context.ancestors).node
        first = shape_of(self.context, left, scope)
        if first is None:
            return
        second = shape_of(self.context, right, scope)
        if second is None or not broadcasts_both_ways(first, second, allow_outer=loss is None):
            return
        if loss is None and not self._torch_operands(left, right):
            return
        self.report(node, self._describe(first, second, loss))

    def _torch_operands(self, left: cst.BaseExpression, right: cst.BaseExpression) -> bool:
        """Arithmetic is torch's when one operand is known to be a torch tensor and the other is
        not known to be anything but a tensor or an array (a torch loss needs no such proof: it
        takes tensors only)."""
        values = [value_of(self.context, operand) for operand in (left, right)]
        if any(v.kind not in (Kind.TENSOR, Kind.NDARRAY, Kind.UNKNOWN) for v in values):
            return False
        return any(v.is_torch_tensor for v in values)

    def _describe(self, first: Shape, second: Shape, loss: cst.BaseExpression | None) -> str:
        result = broadcast(first, second)
        if loss is not None:
            return (f"`{self.context.code(loss)}` gets an input of shape {first} and a target of shape {second}, which "
                    f"broadcast to {result}: every prediction is compared with every target; "
                    "make them match (`.squeeze(-1)` the input or `.view(-1, 1)` the target)")
        return (f"shapes {first} and {second} broadcast both ways, to {result}: every element meets "
                "every other instead of its partner; make the shapes match (`.squeeze(-1)` / "
                "`.view(-1, 1)`), or index both sides (`u[:, None] * v[None, :]`) if an outer "
                "product is meant")
