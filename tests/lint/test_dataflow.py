"""Unit tests of reaching bindings (the semantic model), graph kinds and forward taint
(analysis/graph), and of the model/loss call recognition they build on."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dlsan.lint.analysis.graph import (
    CLEAN,
    LOSS,
    OUTPUT,
    backpropagated,
    forward_taint,
    graph_kind,
)
from dlsan.lint.analysis.models import is_loss_call, model_name
from dlsan.lint.analysis.nodes import calls_in, nodes_in
from dlsan.lint.context import FileContext


def _context(source: str) -> FileContext:
    source = textwrap.dedent(source)
    return FileContext("t.py", source, cst.parse_module(source))


def _aug_values(ctx: FileContext) -> list[cst.BaseExpression]:
    return [n.value for n in nodes_in(ctx, ctx.module) if isinstance(n, cst.AugAssign)]


def _kinds(source: str) -> list:
    ctx = _context(source)
    return [graph_kind(ctx, value) for value in _aug_values(ctx)]


def test_reaching_binding_is_the_last_one_before_the_use():
    ctx = _context("""
        x = 1
        x = model(a)
        y = x
        x = 2
    """)
    use = next(n for n in nodes_in(ctx, ctx.module) if isinstance(n, cst.Assign) and ctx.code(n) == "y = x")
    (binding,) = ctx.semantic.reaching("x", use.value)
    assert ctx.code(binding.value) == "model(a)"


def test_loop_carried_bindings_reach_uses_earlier_in_the_body():
    ctx = _context("""
        for batch in loader:
            total += loss
            loss = criterion(model(batch), y)
    """)
    assert _kinds_of(ctx) == [LOSS]


def _kinds_of(ctx: FileContext) -> list:
    return [graph_kind(ctx, value) for value in _aug_values(ctx)]


def test_use_inside_its_own_assignment_reads_the_previous_value():
    ctx = _context("""
        loss = criterion(out, y)
        loss = loss.item()
        total += loss
    """)
    assert _kinds_of(ctx) == [CLEAN]


@pytest.mark.parametrize(
    ("expression", "kind"),
    [
        ("loss", LOSS),
        ("loss / n", LOSS),
        ("loss.item()", CLEAN),
        ("loss.detach()", CLEAN),
        ("float(loss)", CLEAN),
        ("loss.tolist()", CLEAN),
        ("loss.data", CLEAN),
        ("loss.item() * x.size(0)", None),
        ("out", OUTPUT),
        ("out.argmax(1)", CLEAN),
        ("(out.argmax(1) == y).sum()", CLEAN),
        ("out.sum()", LOSS),
        ("outputs.loss", LOSS),
        ("idx", CLEAN),
        ("values", OUTPUT),
        ("torch.stack([loss, loss])", LOSS),
        ("step_loss(batch)", LOSS),
        ("logged_loss(batch)", CLEAN),
        ("unknown(batch)", None),
        ("n", None),
    ],
)
def test_graph_kinds(expression, kind):
    ctx = _context(f"""
        import torch
        import torch.nn.functional as F
        def step_loss(batch):
            loss = F.mse_loss(model(batch), batch)
            loss.backward()
            return loss
        def logged_loss(batch):
            return step_loss(batch).item()
        out = model(x)
        outputs = model(**batch)
        values, idx = torch.max(out, 1)
        loss = criterion(out, y)
        total += {expression}
    """)
    assert _kinds_of(ctx) == [kind]


def test_backpropagated_names_are_losses_whatever_computed_them():
    ctx = _context("""
        loss_d = bce(netD(real), ones) + bce(netD(fake), zeros)
        scaler.scale(loss_d).backward()
        stats += loss_d
    """)
    assert backpropagated(ctx, ctx.semantic.root) >= {"loss_d"}
    assert _kinds_of(ctx) == [LOSS]


def test_values_computed_without_grad_are_clean():
    ctx = _context("""
        import torch
        with torch.no_grad():
            val = criterion(model(x), y)
        total += val
        @torch.inference_mode()
        def predict(x):
            return model(x)
        total += predict(x)
    """)
    assert _kinds_of(ctx) == [CLEAN, CLEAN]


def test_function_scopes_are_separate():
    ctx = _context("""
        loss = criterion(model(x), y)
        def report(loss):
            total = 0
            total += loss
    """)
    assert _kinds_of(ctx) == [None]


def test_forward_taint_follows_assignments_and_item_updates():
    ctx = _context("""
        X = scaler.fit_transform(raw)
        df["a"] = X[:, 0]
        features = df.drop(columns=["y"])
        other = raw
        X = raw
    """)
    scope = ctx.semantic.root
    tainted = forward_taint(ctx, scope, {"X": scope.bindings_of("X")[0].position})
    assert {"X", "df", "features"} - {"X"} <= set(tainted) and "other" not in tainted
    assert "X" in tainted  # a seed stays tainted even when re-bound later


@pytest.mark.parametrize(
    ("call", "name"),
    [
        ("model(x)", "model"),
        ("self.model(x)", "self.model"),
        ("ema_model(x)", "ema_model"),
        ("model_ddp(x)", "model_ddp"),
        ("netG(noise)", "netG"),
        ("target_net(s)", "target_net"),
        ("clf(x)", "clf"),
        ("solver.model()", None),
        ("Net(3)", None),
        ("build_model(cfg)", None),
        ("helper_model(x)", None),
        ("self._model_step(model)", None),
        ("criterion(out, y)", None),
    ],
)
def test_model_calls(call, name):
    ctx = _context(f"""
        import torch.nn as nn
        class Net(nn.Module):
            pass
        def helper_model(x):
            return x
        clf = Net()
        {call}
    """)
    target = next(c for c in calls_in(ctx, ctx.module) if ctx.code(c) == call)
    assert model_name(ctx, target) == name


@pytest.mark.parametrize(
    ("call", "is_loss"),
    [
        ("F.cross_entropy(out, y)", True),
        ("criterion(out, y)", True),
        ("self.loss_fn(out, y)", True),
        ("nn.MSELoss()(out, y)", True),
        ("F.relu(out)", False),
        ("loss_weights(out)", False),
        ("torch.mean(out)", False),
    ],
)
def test_loss_calls(call, is_loss):
    ctx = _context(f"""
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        {call}
    """)
    target = next(c for c in calls_in(ctx, ctx.module) if ctx.code(c) == call)
    assert is_loss_call(ctx, target) is is_loss
