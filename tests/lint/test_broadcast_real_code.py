"""DLS201 / DLS202 on code reduced from public sources: what they must find and what they must
leave alone.  Each case cites where it comes from; the reduction keeps the mechanism (imports,
constructors, shapes, the views and expands written) and drops the rest."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dlsan.lint.engine import RuleSelection, lint_source
from dlsan.lint.registry import all_rules

_RULES = {rule.code: rule for rule in all_rules()}


#: DLS202 reads arithmetic outside losses only with this option: quiet cases must be quiet with it on
_ARITHMETIC = {"DLS202": {"report-arithmetic": True}}


def _lines(code: str, source: str, options: dict[str, dict[str, object]] | None = None) -> list[int]:
    selection = RuleSelection([_RULES[code]], options or {})
    findings = lint_source("case.py", textwrap.dedent(source).lstrip("\n"), selection)
    return [f.line for f in findings if f.code == code]


FOUND = [
    # https://github.com/pytorch/pytorch/issues/16045 (a (100, 1) prediction against (100,) targets:
    # "the loss fails to decrease into a region near the global optimum ... no error is raised")
    ("DLS202", 11, """
        import torch
        import torch.nn as nn
        sample_size = 100
        x = torch.randn((sample_size, 2))
        eps = torch.randn(sample_size)
        y = 10 + 9 * x[:, 0] - 2 * x[:, 1] + eps
        model = nn.Linear(2, 1)
        loss_func = nn.MSELoss()
        for epoch in range(30):
            yhat = model(x)
            loss_val = loss_func(yhat, y)
            loss_val.backward()
    """),
    # https://github.com/pytorch/pytorch/issues/19699 ("MSE Loss between tensor A with shape (N, 1),
    # and tensor B with shape (N) is different")
    ("DLS202", 5, """
        import torch
        loss = torch.nn.MSELoss()
        a = torch.randn(100, 1)
        b = torch.randn(100)
        loss(a, b)
    """),
    # https://github.com/pytorch/pytorch/issues/16413 ("MSELoss behaves strangely when shapes don't match")
    ("DLS202", 5, """
        import torch
        import torch.nn as nn
        a = torch.Tensor([1, 2, 3])
        b = torch.Tensor([[1], [2], [3]])
        nn.MSELoss()(a, b)
    """),
    # https://github.com/pytorch/pytorch/issues/4938 (`F.mse_loss` of a (2, 1) and a (2, 1, 1, 1);
    # the Variable wrappers of 2018 dropped)
    ("DLS202", 5, """
        import torch
        import torch.nn.functional as F
        output = torch.Tensor([1, 2]).requires_grad_()
        target = torch.Tensor([0, 1])
        train_loss1 = F.mse_loss(output.view(2, 1), target.view(2, 1, 1, 1))
    """),
    # https://github.com/IggyShone/image_caption/issues/3 ("error in l2norm"): VSE++'s l2norm from
    # before PyTorch 0.2, still commented out in its forks as `#X = torch.div(X, norm.expand_as(X))`
    # next to the fix `norm.unsqueeze(1).expand_as(X)`; expand_as aligns the (N,) norms with the
    # feature dim, as implicit broadcasting would
    ("DLS201", 4, """
        import torch
        def l2norm(X):
            norm = torch.pow(X, 2).sum(dim=1).sqrt()
            X = torch.div(X, norm.expand_as(X))
            return X
    """),
]

NOT_FOUND = [
    # https://github.com/fartashf/vsepp/blob/master/model.py (order_sim: an outer difference
    # written with explicit unsqueeze + expand on both sides)
    ("DLS202", """
        import torch
        def order_sim(im, s):
            im = torch.randn(128, 1024)
            s = torch.randn(128, 1024)
            YmX = (s.unsqueeze(1).expand(s.size(0), im.size(0), s.size(1))
                   - im.unsqueeze(0).expand(s.size(0), im.size(0), s.size(1)))
            return -YmX.clamp(min=0).pow(2).sum(2).sqrt().t()
    """),
    # https://github.com/fartashf/vsepp/blob/master/model.py (ContrastiveLoss: the diagonal made
    # explicit with view(n, 1) and expand_as before it meets the score matrix)
    ("DLS202", """
        import torch
        def contrastive(im, s, margin=0.2):
            scores = torch.randn(128, 128)
            diagonal = scores.diag().view(im.size(0), 1)
            d1 = diagonal.expand_as(scores)
            d2 = diagonal.t().expand_as(scores)
            cost_s = (margin + scores - d1).clamp(min=0)
            cost_im = (margin + scores - d2).clamp(min=0)
            return cost_s.sum() + cost_im.sum()
    """),
    # https://github.com/fartashf/vsepp/blob/master/model.py (l2norm after the fix: keepdim=True)
    ("DLS201", """
        import torch
        def l2norm(X):
            norm = torch.pow(X, 2).sum(dim=1, keepdim=True).sqrt()
            X = torch.div(X, norm)
            return X
    """),
    # the forks' fix of the same l2norm (found with the code search: `norm.unsqueeze(1).expand_as(X)`)
    ("DLS201", """
        import torch
        def l2norm(X):
            norm = torch.pow(X, 2).sum(dim=1).sqrt()
            X = torch.div(X, norm.unsqueeze(1).expand_as(X))
            return X
    """),
    # https://github.com/nathanjpaek/kb-pilot/blob/main/KernelBench/KernelBench/level9/14461_l2_norm_layer.py
    ("DLS201", """
        import torch
        import torch.nn as nn
        class l2_norm_layer(nn.Module):
            def forward(self, x):
                norm_x = torch.sqrt((x ** 2).sum(1) + 1e-10)
                return x / norm_x[:, None]
    """),
    # https://github.com/ShaneTsui/image2story/blob/master/embedding/utils.py
    ("DLS201", """
        import torch
        def l2norm(input, p=2.0, dim=1, eps=1e-12):
            return input / input.norm(p, dim).clamp(min=eps).view((-1, 1))
    """),
]


@pytest.mark.parametrize("code, line, source", FOUND)
def test_found(code, line, source):
    assert _lines(code, source) == [line]


@pytest.mark.parametrize("code, source", NOT_FOUND)
def test_not_found(code, source):
    assert _lines(code, source, _ARITHMETIC) == []


def test_arithmetic_outside_losses_only_with_the_option() -> None:
    fixture = (Path(__file__).resolve().parents[2] / "fixtures" / "regression_broadcast_bug.py").read_text()
    assert _lines("DLS202", fixture) == [38, 46]  # the two losses
    assert _lines("DLS202", fixture, _ARITHMETIC) == [38, 46, 47, 53]
    arithmetic = [e for e in _RULES["DLS202"].INVALID if e.options]
    assert arithmetic and all(_lines("DLS202", e.source) == [] for e in arithmetic)

