"""Unit tests of the shared analysis helpers (training loops, grad mode, same-file calls)."""

from __future__ import annotations

import textwrap

import libcst as cst

from dlsan.lint.analysis.functions import called_function, file_index, is_module_class, is_plain_class
from dlsan.lint.analysis.grad_mode import grad_disabled, in_evaluation_context
from dlsan.lint.analysis.loops import enclosing_training_loop, is_optimizer_step, trains
from dlsan.lint.analysis.models import is_backward_call
from dlsan.lint.analysis.nodes import ancestors_of, calls_in
from dlsan.lint.context import FileContext


def _context(source: str) -> FileContext:
    source = textwrap.dedent(source)
    return FileContext("t.py", source, cst.parse_module(source))


def _call(context: FileContext, text: str) -> cst.Call:
    return next(c for c in calls_in(context, context.module) if context.code(c) == text)


def test_loop_trains_through_a_same_file_function():
    ctx = _context("""
        def step(model, batch, optimizer):
            loss = model(batch).sum()
            loss.backward()
            optimizer.step()

        for batch in loader:
            step(model, batch, opt)

        for batch in val_loader:
            evaluate(model, batch)
    """)
    loops = [n for n in ctx.module.body if isinstance(n, cst.For)]
    assert trains(ctx, loops[0]) and not trains(ctx, loops[1])


def test_recursive_functions_do_not_loop_forever():
    ctx = _context("""
        def a(x):
            return b(x)
        def b(x):
            return a(x)
    """)
    assert not trains(ctx, file_index(ctx).functions["a"])


def test_optimizer_step_is_told_from_scheduler_step():
    ctx = _context("optimizer.step()\nscheduler.step()\nself.opt_g.step()\nlr_scheduler.step()\nscaler.step(opt)\n")
    steps = [is_optimizer_step(c) for c in calls_in(ctx, ctx.module)]
    assert steps == [True, False, True, False, True]


def test_grad_disabled_by_block_and_decorator():
    ctx = _context("""
        import torch
        from torch import no_grad
        with torch.no_grad():
            a = model(x)
        @torch.inference_mode()
        def predict(x):
            return model(x)
        @no_grad
        def f(x):
            return model(x)
        with torch.set_grad_enabled(False):
            b = model(x)
        with torch.set_grad_enabled(True):
            c = model(x)
        d = model(x)
    """)
    calls = [c for c in calls_in(ctx, ctx.module) if ctx.code(c) == "model(x)"]
    disabled = [grad_disabled(ctx, list(reversed(ancestors_of(ctx, c)))) for c in calls]
    assert disabled == [True, True, True, True, False, False]


def test_evaluation_context_by_function_name():
    ctx = _context("""
        def validate_epoch(model):
            return model(x)
        def train_epoch(model):
            return model(x)
    """)
    calls = [c for c in calls_in(ctx, ctx.module) if ctx.code(c) == "model(x)"]
    assert [in_evaluation_context(ctx, list(reversed(ancestors_of(ctx, c)))) for c in calls] == [True, False]


def test_called_function_follows_self_methods():
    ctx = _context("""
        class Trainer:
            def fit(self):
                self.step()
            def step(self):
                self.optimizer.step()
    """)
    cls = file_index(ctx).classes["Trainer"]
    call = _call(ctx, "self.step()")
    assert called_function(ctx, call, cls) is file_index(ctx).methods["Trainer"]["step"]
    assert trains(ctx, file_index(ctx).methods["Trainer"]["fit"], cls)


def test_module_class_through_local_base():
    ctx = _context("""
        import torch.nn as nn
        class Base(nn.Module):
            pass
        class Net(Base):
            pass
        class NotAModule(object):
            pass
    """)
    classes = file_index(ctx).classes
    assert is_module_class(ctx, classes["Net"]) and not is_module_class(ctx, classes["NotAModule"])


def test_enclosing_training_loop_during_the_walk():
    from dlsan.lint.walk import Dispatcher, walk

    ctx = _context("""
        for epoch in range(3):
            for batch in loader:
                loss = model(batch)
                loss.backward()
                optimizer.step()
                total += loss
        for batch in val_loader:
            total += loss
    """)
    seen = []

    class Probe:
        def visit_AugAssign(self, node):
            seen.append(enclosing_training_loop(ctx) is not None)

    walk(ctx.module, Dispatcher([Probe()]), ctx.ancestors)
    assert seen == [True, False]


def test_runs_whenever_stops_at_branches_loops_and_try():
    context = _context("""
        for batch in loader:
            a()
            if ok:
                b()
            c() if ok else None
            try:
                d()
            except E:
                pass
    """)
    loop = context.module.body[0]
    assert context.semantic.runs_whenever(_call(context, "a()"), loop)
    assert not context.semantic.runs_whenever(_call(context, "b()"), loop)
    assert not context.semantic.runs_whenever(_call(context, "c()"), loop)
    assert not context.semantic.runs_whenever(_call(context, "d()"), loop)
    assert not context.semantic.runs_whenever(_call(context, "a()"), None)


def test_plain_classes_are_known_to_be_no_module():
    ctx = _context("""
        import abc
        import torch.nn as nn
        from somewhere import Base

        class Plain():
            pass

        class FromObject(object):
            pass

        class Derived(Plain):
            pass

        class Net(nn.Module):
            pass

        class Unknown(Base):
            pass

        class Meta(metaclass=abc.ABCMeta):
            pass

        class OnUnknown(Unknown):
            pass
    """)
    classes = file_index(ctx).classes
    plain = {name for name, cls in classes.items() if is_plain_class(ctx, cls)}
    assert plain == {"Plain", "FromObject", "Derived"}


def test_the_backward_method_of_a_plain_class_is_no_autograd_backward():
    ctx = _context("""
        class NumpyModel:
            def backward(self, x, y_hat, y):
                self.dw = (y_hat - y) @ x.T

        model = NumpyModel()
        model.backward(x, y_hat, y)
        loss.backward()
        accelerator.backward(loss)
        net.backward(x)
    """)
    calls = {ctx.code(call.func): is_backward_call(ctx, call) for call in calls_in(ctx, ctx.module)}
    assert calls == {"NumpyModel": False, "model.backward": False, "loss.backward": True,
                     "accelerator.backward": True, "net.backward": True}
