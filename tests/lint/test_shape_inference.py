"""Shape inference on code (dlsan.lint.analysis.shape_inference); the algebra has test_shape_algebra.py."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dlsan.lint.analysis.shape_inference import reduction_of, shape_of
from dlsan.lint.context import FileContext


def _context(source: str) -> FileContext:
    source = textwrap.dedent(source).lstrip("\n")
    return FileContext("t.py", source, cst.parse_module(source))


def infer(source: str) -> str | None:
    """The shape of the last expression statement (of the module, or of its last function or
    method)."""
    context = _context(source)
    scope: cst.Module | cst.FunctionDef = context.module
    statement = context.module.body[-1]
    if isinstance(statement, cst.ClassDef):
        statement = statement.body.body[-1]
    if isinstance(statement, cst.FunctionDef):
        scope, statement = statement, statement.body.body[-1]
    assert isinstance(statement, cst.SimpleStatementLine)
    expr = statement.body[0]
    assert isinstance(expr, cst.Expr)
    shape = shape_of(context, expr.value, scope)
    return None if shape is None else str(shape)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import torch\ntorch.randn(4, 3)", "(4, 3)"),
        ("import torch\ntorch.zeros((N, 1))", "(N, 1)"),
        ("import torch\ntorch.ones(size=[2, 5])", "(2, 5)"),
        ("import torch\ntorch.full((3, 3), 7.0)", "(3, 3)"),
        ("import torch\ntorch.tensor([[1, 2], [3, 4], [5, 6]])", "(3, 2)"),
        ("import torch\ntorch.tensor(3.0)", "()"),
        ("import torch\ntorch.linspace(0, 1, steps=50)", "(50,)"),
        ("import torch\ntorch.arange(10)", "(10,)"),
        ("import torch\ntorch.arange(2, 7)", "(5,)"),
        ("import torch\ntorch.randint(0, 10, (batch_size,))", "(batch_size,)"),
        ("import torch\nx = torch.randn(B, D)\ntorch.zeros_like(x)", "(B, D)"),
        ("import torch\nn = 5\ntorch.eye(n)", "(5, 5)"),
        # shape methods
        ("import torch\nx = torch.randn(B, T, D)\nx.view(B, -1)", "(B, D*T)"),
        ("import torch\nx = torch.randn(4, 6)\nx.reshape(-1)", "(24,)"),
        ("import torch\nx = torch.randn(4, 6)\nx.reshape(2, -1, 3)", "(2, 4, 3)"),
        ("import torch\nx = torch.randn(N)\nx.unsqueeze(1)", "(N, 1)"),
        ("import torch\nx = torch.randn(N)\nx.unsqueeze(0)", "(1, N)"),
        ("import torch\nx = torch.randn(N, 1)\nx.squeeze(-1)", "(N,)"),
        ("import torch\nx = torch.randn(N, 1)\nx.squeeze()", "(N,)"),
        ("import torch\nx = torch.randn(N, D)\nx.squeeze(1)", "(N, D)"),
        ("import torch\nx = torch.randn(B, C, H, W)\nx.flatten(1)", "(B, C*H*W)"),
        ("import torch\nx = torch.randn(B, C, H, W)\nx.permute(0, 2, 3, 1)", "(B, H, W, C)"),
        ("import torch\nx = torch.randn(B, T, D)\nx.transpose(1, 2)", "(B, D, T)"),
        ("import torch\nx = torch.randn(3, 5)\nx.T", "(5, 3)"),
        ("import torch\nx = torch.randn(3, 5)\nx.float().detach().cpu()", "(3, 5)"),
        # indexing
        ("import torch\nx = torch.randn(N)\nx[:, None]", "(N, 1)"),
        ("import torch\nx = torch.randn(N, D)\nx[..., None]", "(N, D, 1)"),
        ("import torch\nx = torch.randn(N, D)\nx[:, 0]", "(N,)"),
        ("import torch\nx = torch.randn(N, D)\nx[0]", "(D,)"),
        ("import torch\nx = torch.randn(N, D)\nx[:, :1]", "(N, 1)"),
        ("import torch\nx = torch.randn(N, D)\nx[idx]", None),
        # reductions
        ("import torch\nx = torch.randn(N, D)\nx.mean(1)", "(N,)"),
        ("import torch\nx = torch.randn(N, D)\nx.sum(dim=-1, keepdim=True)", "(N, 1)"),
        ("import torch\nx = torch.randn(N, D)\ntorch.mean(x, 0)", "(D,)"),
        ("import torch\nx = torch.randn(N, D)\nx.mean()", "()"),
        ("import torch\nx = torch.randn(N, D)\nx.max(dim=1).values", "(N,)"),
        ("import torch\nx = torch.randn(N, D)\nx.max(dim=1)", None),
        ("import torch\nx = torch.randn(B, C, H, W)\nx.mean(dim=(2, 3))", "(B, C)"),
        # arithmetic
        ("import torch\nx = torch.randn(N, D)\nb = torch.zeros(D)\nx + b", "(N, D)"),
        ("import torch\nx = torch.randn(N, D)\n2 * x - 1", "(N, D)"),
        ("import torch\nx = torch.randn(8, 3)\nw = torch.randn(3, 1)\nx @ w", "(8, 1)"),
        ("import torch\nx = torch.randn(8, 3)\n(x > 0).float()", "(8, 3)"),
        # unknown stays unknown
        ("import torch\ndef f(x):\n    x", None),
        ("import torch\nfor x in loader:\n    pass\nx", None),
        ("import torch\nx = torch.randn(3, 4)\nx = load()\nx", None),
        ("import torch\ntorch.zeros(*shape)", None),
        ("import torch\ntorch.zeros(x.shape)", None),
        ("import torch\ny.view(-1)", "(numel(y),)"),
        ("import torch\ny.view(-1, 1)", "(numel(y), 1)"),
        ("import torch\ny.unsqueeze(1)", None),
    ],
)
def test_inferred_shape(source, expected):
    assert infer(source) == expected


def test_latest_assignment_before_the_use_counts():
    source = """
        import torch
        def f():
            x = torch.randn(4, 4)
            y = x
            x = torch.randn(2)
            y
    """
    assert infer(source) == "(4, 4)"


def test_module_level_value_is_seen_from_functions():
    source = """
        import torch
        W = torch.randn(10, 3)
        def f():
            W.t()
    """
    assert infer(source) == "(3, 10)"


def test_comprehension_and_lambda_names_stay_inside_them():
    source = """
        import torch
        x = torch.randn(3)
        fs = [x for x in batches]
        g = lambda x: x
        x
    """
    assert infer(source) == infer("import torch\nx = torch.randn(3)\nx\n") is not None


def test_a_for_target_is_unknown_in_the_loop_body():
    source = """
        import torch
        def f(batches):
            x = torch.randn(3)
            for x in batches:
                x
    """
    context = _context(source)
    loop = context.module.body[-1].body.body[-1]
    use = loop.body.body[0].body[0].value
    assert shape_of(context, use, context.module.body[-1]) is None


LAYERS = """
    import torch
    from torch import nn

    class Head(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(d, 64), nn.ReLU(), nn.Dropout(0.1))
            self.out = nn.Linear(64, 1)

        def forward(self, x):
            h = self.body(x)
            return torch.sigmoid(self.out(h))

    mlp = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
    model = Head(32).to("cuda")
"""


@pytest.mark.parametrize(
    "call, expected",
    [
        ("mlp(torch.randn(N, 3))", "(N, 1)"),
        ("mlp(batch)", "(..., batch, 1)"),
        ("nn.Linear(3, 7)(torch.randn(B, T, 3))", "(B, T, 7)"),
        ("model(x)", "(..., batch, 1)"),
        ("model(x).squeeze(-1)", "(..., batch)"),
        ("model(x).view(-1)", "(numel(model(x)),)"),
        ("nn.Conv2d(3, 8, 3)(x)", None),
    ],
)
def test_layers_of_the_same_file(call, expected):
    assert infer(textwrap.dedent(LAYERS) + call + "\n") == expected


def test_self_layers_in_a_lightning_step():
    source = """
        import torch
        import pytorch_lightning as pl
        from torch import nn

        class Lit(pl.LightningModule):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(20, 1))

            def forward(self, x):
                return self.net(x)

            def training_step(self, batch, batch_idx):
                self(batch[0])
    """
    assert infer(source) == "(..., batch, 1)"


@pytest.mark.parametrize(
    "expr, dims, keepdim, library",
    [
        ("x.mean(1)", (1,), False, None),
        ("x.sum(dim=-1, keepdim=True)", (-1,), True, None),
        ("torch.max(x, 1)", (1,), False, "torch"),
        ("np.mean(x, axis=(1, 2))", (1, 2), False, "numpy"),
        ("torch.linalg.norm(x, dim=1)", (1,), False, "torch"),
        ("x.norm(p=2, dim=1)", (1,), False, None),
        ("x.mean()", None, False, None),
    ],
)
def test_reduction_description(expr, dims, keepdim, library):
    context = _context(f"import torch\nimport numpy as np\n{expr}\n")
    call = context.module.body[-1].body[0].value
    reduction = reduction_of(context, call)
    assert reduction is not None
    assert (reduction.dims, reduction.keepdim, reduction.library) == (dims, keepdim, library)


@pytest.mark.parametrize("expr", ["x.mean(dim=self.dim)", "np.random.rand(3, 4)", "x.std(1, True, True)",
                                  "pd.sum(x, 1)", "x.count(1)"])
def test_not_a_reduction(expr):
    context = _context(f"import torch\nimport numpy as np\nimport pandas as pd\n{expr}\n")
    call = context.module.body[-1].body[0].value
    reduction = reduction_of(context, call)
    assert reduction is None or reduction.dims is None and expr.startswith("x.mean")
