"""Unit tests of the per-optimizer gradient event order (analysis/optimizers) and call sites."""

from __future__ import annotations

import textwrap

import libcst as cst

from dlsan.lint.analysis.callers import call_sites
from dlsan.lint.analysis.functions import file_index
from dlsan.lint.analysis.loops import loops_around
from dlsan.lint.analysis.nodes import calls_in
from dlsan.lint.analysis.optimizers import (
    clears,
    grad_events,
    is_scheduler_step,
    stepped_optimizer,
    stepped_optimizers,
)
from dlsan.lint.context import FileContext


def _context(source: str) -> FileContext:
    source = textwrap.dedent(source)
    return FileContext("t.py", source, cst.parse_module(source))


def _first_loop(context: FileContext) -> cst.For:
    return next(n for n in context.module.body if isinstance(n, cst.For))


def _kinds(context: FileContext, scope: cst.CSTNode) -> list[tuple[str, str | None]]:
    return [(e.kind, e.optimizer) for e in grad_events(context, scope)]


def test_gan_step_events_are_per_optimizer_in_source_order():
    ctx = _context("""
        for real in loader:
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            netG.zero_grad()
            scaler.scale(g_loss).backward()
            scaler.step(opt_g)
            sched_g.step()
    """)
    assert _kinds(ctx, _first_loop(ctx)) == [
        ("clear", "opt_d"), ("backward", None), ("step", "opt_d"),
        ("clear", None), ("backward", None), ("step", "opt_g"), ("scheduler", None),
    ]


def test_grad_assignments_and_resets_clear_every_optimizer():
    ctx = _context("""
        for batch in loader:
            for p in model.parameters():
                p.grad = None
            w.grad.data.zero_()
            loss.backward()
            optimizer.step()
    """)
    events = grad_events(ctx, _first_loop(ctx))
    assert [e.kind for e in events] == ["clear", "clear", "backward", "step"]
    assert all(clears(e, "optimizer", stepped_optimizers(events)) for e in events[:2])


def test_zero_grad_of_a_name_that_never_steps_counts_for_all():
    ctx = _context("""
        for batch in loader:
            for o in optimizers:
                o.zero_grad()
            self.optimizer.zero_grad()
            opt_d.zero_grad()
            loss.backward()
            opt_g.step()
            opt_d.step()
    """)
    events = grad_events(ctx, _first_loop(ctx))
    stepped = stepped_optimizers(events)
    assert stepped == {"opt_g", "opt_d"}
    assert [clears(e, "opt_g", stepped) for e in events[:3]] == [True, True, False]


def test_same_file_calls_are_followed_and_attributed_to_the_call_site():
    ctx = _context("""
        def train_step(batch):
            loss = model(batch).mean()
            loss.backward()
            optimizer.step()

        for batch in loader:
            optimizer.zero_grad()
            train_step(batch)
    """)
    events = grad_events(ctx, _first_loop(ctx))
    assert [e.kind for e in events] == ["clear", "backward", "step"]
    assert [e.followed for e in events] == [False, True, True]
    assert ctx.code(events[1].node) == "train_step(batch)"


def test_step_recognition_and_scheduler_statements():
    ctx = _context("""
        optimizer.step()
        scaler.step(self.opt)
        scheduler.step()
        latents = noise_scheduler.step(out, t, latents).prev_sample
        env.step(action)
    """)
    calls = calls_in(ctx, ctx.module)
    by_text = {ctx.code(c): c for c in calls}
    assert stepped_optimizer(by_text["optimizer.step()"]) == "optimizer"
    assert stepped_optimizer(by_text["scaler.step(self.opt)"]) == "self.opt"
    assert stepped_optimizer(by_text["env.step(action)"]) is None
    assert is_scheduler_step(by_text["scheduler.step()"])
    assert [e.kind for e in grad_events(ctx, ctx.module)] == ["step", "step", "scheduler"]


def test_call_sites_and_their_loops():
    ctx = _context("""
        class Trainer:
            def fit(self):
                for epoch in range(3):
                    self.train_epoch()
            def train_epoch(self):
                pass

        def helper():
            pass

        helper()
    """)
    index = file_index(ctx)
    sites = call_sites(ctx, index.methods["Trainer"]["train_epoch"])
    assert [ctx.code(s) for s in sites] == ["self.train_epoch()"]
    assert len(loops_around(ctx, sites[0])) == 1
    helper_sites = call_sites(ctx, index.functions["helper"])
    assert len(helper_sites) == 1 and loops_around(ctx, helper_sites[0]) == []
