"""One answer to "is this a torch tensor?": the semantic model's values, from the catalogue."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dlsan.lint.context import FileContext
from dlsan.lint.semantic.values import Kind, is_parameter, is_torch_tensor, value_of


def _last(source: str) -> tuple[FileContext, cst.BaseExpression]:
    """The context and the last expression statement (of the module or of its last function)."""
    source = textwrap.dedent(source).lstrip("\n")
    context = FileContext("t.py", source, cst.parse_module(source))
    statement = context.module.body[-1]
    while isinstance(statement, (cst.FunctionDef, cst.For)):
        statement = statement.body.body[-1]
    assert isinstance(statement, cst.SimpleStatementLine)
    expr = statement.body[0]
    assert isinstance(expr, cst.Expr)
    return context, expr.value


@pytest.mark.parametrize("source", [
    "import torch\ntorch.zeros(3)",
    "import torch\ntorch.FloatTensor(3)",
    "import torch\ntorch.max(x)",
    "import torch\nimport torch.nn.functional as F\nF.relu(x)",
    "import torch\nx = torch.randn(4)\nx.float().view(-1)",
    "import torch\nx = torch.randn(4)\nx.add_(1)",
    "import torch\nx = torch.randn(4, 4)\nx[0]",
    "import torch\nx = torch.randn(4, 4)\nx.T",
    "import torch\nx = torch.randn(4)\n(x > 0.5) == (2 * x - 1)",
    "import torch\nx = torch.randn(4)\nx[0] = 1.0\nx",
    "import torch\nx = torch.randn(4)\nx += 1\nx",
    "import torch\ndef f(x: torch.Tensor):\n    x",
    "import torch\nfrom torch import nn\nw = nn.Parameter(torch.zeros(3))\nw",
])
def test_known_tensors(source):
    context, expr = _last(source)
    assert is_torch_tensor(context, expr)


@pytest.mark.parametrize("source", [
    "import torch\ntorch.no_grad()",
    "import torch\ntorch.device('cuda')",
    "import torch\ntorch.manual_seed(0)",
    "import torch\ntorch.cuda.is_available()",
    "import torch\ntorch.save(model, 'm.pt')",
    "import torch\ntorch.load('m.pt')",
    "import torch\ntorch.is_tensor(x)",
    "import torch\ntorch.max(x, 1)",
    "import torch\nx = torch.randn(4)\nx.item()",
    "import torch\nx = torch.randn(4)\nx.tolist()",
    "import torch\nx = torch.randn(4)\nx.size()",
    "import torch\nx = torch.randn(4, 4)\nx.max(dim=1)",
    "import torch\nx = torch.randn(4)\nx + y",
    "import torch\nx = torch.randn(4)\nx is None",
    "import torch\nx\n",
    "import numpy as np\nnp.zeros(3)",
])
def test_not_known_tensors(source):
    context, expr = _last(source)
    assert not is_torch_tensor(context, expr)


def test_numpy_of_a_tensor_is_an_array():
    context, expr = _last("import torch\nx = torch.randn(4)\nx.detach().numpy()")
    assert value_of(context, expr).kind is Kind.NDARRAY


@pytest.mark.parametrize("source, parameter", [
    ("import torch\nfrom torch import nn\nw = nn.Parameter(torch.zeros(3))\nw", True),
    ("import torch\nfor p in model.parameters():\n    p", True),
    ("import torch\nfor name, p in model.named_parameters():\n    p", True),
    ("import torch\nfor name, p in model.named_parameters():\n    name", False),
    ("import torch\nw = torch.zeros(3)\nw", False),
    # a file of another framework: an unknown object's parameters() is not torch's
    ("import mxnet\nfor p in net.parameters():\n    p", False),
])
def test_parameters(source, parameter):
    context, expr = _last(source)
    assert is_parameter(context, expr) is parameter


def test_a_layer_weight_reached_through_a_model_of_this_file_is_a_parameter():
    source = """
        import torch
        from torch import nn
        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(8, 4)
        encoder = Encoder()
        encoder.proj.weight
    """
    context, expr = _last(source)
    assert is_parameter(context, expr)
    context, expr = _last(source.replace("encoder.proj.weight", "encoder.proj.in_features"))
    assert not is_torch_tensor(context, expr)
