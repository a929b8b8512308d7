"""Unit tests of output-activation tracking (analysis/activations), local data flow
(semantic/objects) and test-data taint (analysis/holdout)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dlsan.lint.analysis.activations import ending, forward_ending
from dlsan.lint.analysis.functions import file_index
from dlsan.lint.analysis.holdout import decision_evidence, evidence_of_test_data, is_test_name
from dlsan.lint.analysis.nodes import calls_in
from dlsan.lint.context import FileContext
from dlsan.lint.semantic.objects import constructor, number_value


def _context(source: str) -> FileContext:
    source = textwrap.dedent(source)
    return FileContext("t.py", source, cst.parse_module(source))


def _last_argument_of(context: FileContext, function: str) -> cst.BaseExpression:
    """The first argument of the last call of ``function`` at module level."""
    call = [c for c in calls_in(context, context.module) if context.code(c.func) == function][-1]
    return call.args[0].value


@pytest.mark.parametrize(("code", "expected"), [
    ("import torch.nn.functional as F\nloss(F.softmax(z, dim=1))", "softmax"),
    ("import torch\nloss(torch.log_softmax(z, -1))", "log_softmax"),
    ("loss(z.sigmoid())", "sigmoid"),
    ("loss(z.softmax(dim=-1))", "softmax"),
    ("import torch.nn as nn\nloss(nn.Sigmoid()(z))", "sigmoid"),
    ("import torch\np = torch.sigmoid(z)\nloss(p.view(-1))", "sigmoid"),
    ("import torch\np = torch.sigmoid(z)\np = head(z)\nloss(p)", None),
    ("loss(obj.softmax(x, y))", None),
    ("import scipy.special\nloss(scipy.special.softmax(z))", None),
    ("loss(outputs.logits)", None),
])
def test_expression_endings(code, expected):
    ctx = _context(code)
    found = ending(ctx, _last_argument_of(ctx, "loss"), None)
    assert (found.kind if found else None) == expected


def test_forward_endings_of_same_file_models():
    ctx = _context("""
        import torch.nn as nn
        import torch.nn.functional as F

        class Probs(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(4, 2), nn.Softmax(dim=1))
            def forward(self, x):
                return self.net(x)

        class Branchy(nn.Module):
            def forward(self, x):
                if self.training:
                    return self.fc(x)
                return F.softmax(self.fc(x), dim=1)

        class Wrapped(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = Probs()
            def forward(self, x):
                y = self.inner(x)
                return y

        class Recursive(nn.Module):
            def forward(self, x):
                return self(x)
    """)
    classes = file_index(ctx).classes
    assert forward_ending(ctx, classes["Probs"]).kind == "softmax"
    assert forward_ending(ctx, classes["Branchy"]) is None
    assert forward_ending(ctx, classes["Wrapped"]).kind == "softmax"
    assert forward_ending(ctx, classes["Recursive"]) is None


def test_model_instance_through_assignment_and_to_device():
    ctx = _context("""
        import torch.nn as nn
        class Net(nn.Module):
            def forward(self, x):
                return x.sigmoid()
        model = Net().to(device)
        model = model.cuda()
        loss(model(x))
    """)
    found = ending(ctx, _last_argument_of(ctx, "loss"), None)
    assert found is not None and found.kind == "sigmoid" and found.model_class == "Net"


def test_constructor_and_numbers_through_names():
    ctx = _context("""
        import torch.nn as nn
        WD = 1e-4
        a, b = nn.BCELoss(), 3
        def f():
            crit = a
            use(crit, WD, b)
    """)
    call = next(c for c in calls_in(ctx, ctx.module) if ctx.code(c.func) == "use")
    built = constructor(ctx, call.args[0].value, None)
    assert built is not None and ctx.code(built.expr) == "nn.BCELoss()"
    assert number_value(ctx, call.args[1].value) == 1e-4
    assert number_value(ctx, call.args[2].value) == 3


@pytest.mark.parametrize(("name", "expected"), [
    ("test_loader", True), ("testloader", True), ("X_test", True), ("test_acc", True), ("dl_test", True),
    ("latest", False), ("test_batch_size", False), ("test_transform", False), ("contest", False),
    ("val_loader", False),
])
def test_test_names(name, expected):
    assert is_test_name(name) is expected


def _expression_in(context: FileContext, code: str) -> cst.BaseExpression:
    """The last expression of the module whose source is ``code``."""
    found = [n for n in context.semantic.scope_for(context.module).nodes
             if isinstance(n, cst.BaseExpression) and context.code(n) == code]
    return found[-1]


def test_test_data_follows_reaching_bindings_but_not_sibling_splits():
    ctx = _context("""
        train_loader, test_loader = make_loaders(train_ds, test_ds)
        loader = DataLoader(testset)
        correct = 0
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum()
        acc = correct / n
        is_best = acc > best
        best, bad_epochs = acc, 0
        report(train_loader, bad_epochs, is_best, best)
    """)
    for name in ("test_loader", "loader", "x", "correct", "acc", "best"):
        assert evidence_of_test_data(ctx, _expression_in(ctx, name), by_name=True) is not None, name
    assert evidence_of_test_data(ctx, _expression_in(ctx, "train_loader"), by_name=True) is None
    assert evidence_of_test_data(ctx, _expression_in(ctx, "bad_epochs"), by_name=True) is None
    assert decision_evidence(ctx, _expression_in(ctx, "is_best"), by_name=True) is not None
    assert decision_evidence(ctx, _expression_in(ctx, "acc > best"), by_name=True) == (
        "`acc` comes from `testset`, which is named as test data")
    # without names as evidence, nothing here is known to be test data
    assert decision_evidence(ctx, _expression_in(ctx, "acc > best")) is None


def test_a_validation_split_of_the_training_data_is_no_test_data():
    # udacity/deep-learning-v2-pytorch convolutional-neural-networks/cifar-cnn/cifar10_cnn_solution.ipynb:
    # `valid_loader` wraps `train_data`; a later test loop reuses the names `data` and `target`
    ctx = _context("""
        from torchvision import datasets
        import torch
        train_data = datasets.CIFAR10("data", train=True)
        test_data = datasets.CIFAR10("data", train=False)
        valid_loader = torch.utils.data.DataLoader(train_data, sampler=valid_sampler)
        test_loader = torch.utils.data.DataLoader(test_data)
        for epoch in range(3):
            valid_loss = 0.0
            for data, target in valid_loader:
                valid_loss += criterion(model(data), target).item()
            if valid_loss <= valid_loss_min:
                valid_loss_min = valid_loss
        for data, target in test_loader:
            test_loss = criterion(model(data), target).item()
    """)
    assert evidence_of_test_data(ctx, _expression_in(ctx, "valid_loss <= valid_loss_min")) is None
    evidence = evidence_of_test_data(ctx, _expression_in(ctx, "criterion(model(data), target).item()"))
    assert evidence is not None and "`train=False` dataset built on line 5" in evidence, evidence
