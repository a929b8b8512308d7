"""Instrumenting twice, removing twice, a module shared by two models, and threads calling one model.

The semantics tested here are documented in ``docs/runtime-integrations.md`` ("Concurrency").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import dlsan

_THREAD = threading.local()  # per-thread switches of the planted bugs below


class _Meet(torch.autograd.Function):
    """Identity that makes every thread wait for the others, forward and backward, so that the
    threads' passes are certainly in flight at the same time (not just by scheduler luck)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, barrier: threading.Barrier) -> torch.Tensor:
        ctx.barrier = barrier
        barrier.wait()
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        ctx.barrier.wait()
        return grad, None


class Meet(nn.Module):
    def __init__(self, barrier: threading.Barrier) -> None:
        super().__init__()
        self.barrier = barrier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Meet.apply(x, self.barrier)


class _GradNaN(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad * float("nan")


class Bug(nn.Module):
    """NaN in the forward or the backward pass, only in threads that switched it on."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(_THREAD, "forward_nan", False):
            return x * float("nan")
        return _GradNaN.apply(x) if getattr(_THREAD, "backward_nan", False) else x * 1.0


def _model(threads: int) -> nn.Sequential:
    """``Bug`` is module ``"3"``; ``Meet`` holds every thread until all of them are mid-pass."""
    meet = Meet(threading.Barrier(threads, timeout=20))
    return nn.Sequential(nn.Linear(8, 16), meet, nn.Tanh(), Bug(), nn.Linear(16, 4))


def _in_threads(work: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:  # noqa: BLE001 - reported by the test thread below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def _train(model: nn.Module, steps: int, **bug: bool) -> Callable[[], None]:
    def job() -> None:
        for name, value in bug.items():
            setattr(_THREAD, name, value)
        for _ in range(steps):
            model(torch.randn(4, 8)).sum().backward()

    return job


@pytest.mark.parametrize("bug", ["forward_nan", "backward_nan"])
def test_concurrent_passes_are_recorded_apart(bug: str) -> None:
    """One of three threads hits a NaN: only its passes are reported, at the right layer; the
    clean threads' passes, in flight at the same moment, are neither blamed nor lost."""
    steps = 6
    model = _model(3)
    with dlsan.instrument(model, on_error="record", checks=["nonfinite"]) as san:
        _in_threads([_train(model, steps, **{bug: True}), _train(model, steps), _train(model, steps)])
    found = [(f.module, f.phase, f.details["count"]) for f in san.findings]
    assert found == [("3", "backward" if bug == "backward_nan" else "forward", steps)]
    assert san.step == 3 * steps  # every thread's backward pass counted once


def test_concurrent_inference_with_every_default_check() -> None:
    """Threads serving one model under ``no_grad``, every default probe on: one thread's NaN is
    named once per pass it happened in, nothing else is reported, and no thread is left mid-pass."""
    model = _model(4).eval()

    def infer(poisoned: bool) -> Callable[[], None]:
        def job() -> None:
            _THREAD.forward_nan = poisoned
            with torch.no_grad():
                for _ in range(5):
                    model(torch.randn(4, 8))

        return job

    with dlsan.instrument(model, on_error="record") as san:
        _in_threads([infer(True), infer(False), infer(False), infer(False)])
    assert [(f.module, f.phase, f.details["count"]) for f in san.findings] == [("3", "forward", 5)]
    assert san.recorder.current is None


def test_instrumenting_twice_stacks_independent_sanitizers(toys: Any, x: torch.Tensor) -> None:
    model = toys.mlp(toys.Log())
    first = dlsan.instrument(model, on_error="record")
    second = dlsan.instrument(model, on_error="record")
    model(x)
    assert [f.module for f in first.findings] == [f.module for f in second.findings] == ["2"]
    first.remove()
    first.remove()  # idempotent, and never touches the other sanitizer's hooks
    model(x)
    assert second.findings[0].details["count"] == 2 and first.findings[0].details["count"] == 1
    second.remove()
    second.remove()
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks


def test_stacked_sanitizers_leave_numerics_alone(toys: Any, x: torch.Tensor) -> None:
    model = toys.mlp()
    plain = model(x)
    with dlsan.instrument(model), dlsan.instrument(model):
        watched = model(x)
        watched.sum().backward()
    assert torch.equal(plain, watched)


def test_a_shared_module_reports_to_each_model_under_its_own_name(toys: Any) -> None:
    shared = toys.Log()
    first = nn.Sequential(nn.Linear(8, 8), shared)  # shared is "1" here
    second = nn.Sequential(nn.Tanh(), nn.Linear(8, 8), shared)  # and "2" here
    with dlsan.instrument(first, on_error="record") as a, dlsan.instrument(second, on_error="record") as b:
        x = -torch.ones(2, 8)  # log of a negative number
        second(x)
        assert [f.module for f in b.findings] == ["2"]
        assert [f.module for f in a.findings] == ["1"]  # hooks follow the module into the other model
        a.remove()
        second(x)
        assert b.findings[0].details["count"] == 2 and a.findings[0].details["count"] == 1
    assert not shared._forward_hooks
