"""``graph-leak``: earlier steps' autograd graphs kept alive by the training loop."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from runtime_health_models import HEALTHY
from torch import nn

import dlsan


def _loop(model: nn.Module, steps: int, keep) -> dlsan.Sanitizer:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with dlsan.instrument(model, optimizer=optimizer, on_error="record") as san:
        for _ in range(steps):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(torch.randn(8, 10)), torch.randint(0, 3, (8,)))
            loss.backward()
            optimizer.step()
            keep(loss)
    return san


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))


def test_running_loss_plus_equals_loss_is_a_leak_within_three_steps():
    state = {"running": 0.0}

    def accumulate(loss):
        state["running"] += loss  # the leak: a tensor with a grad_fn kept across steps

    san = _loop(_mlp(), 3, accumulate)
    (finding,) = [f for f in san.findings if f.kind == "graph-leak"]
    assert finding.code == "DLS809" and finding.step == 3 and finding.details["oldest"] == 1
    assert finding.details["steps"] == [1, 2] and finding.details["where"] == "output"
    assert "still alive at step 3 (the oldest from step 1" in finding.message and "MiB per step" in finding.message
    # located at the user's optimizer.step() call: the training loop
    lines, start = inspect.getsourcelines(_loop)
    step_line = start + next(i for i, line in enumerate(lines) if "optimizer.step()" in line)
    assert finding.path.endswith("test_probe_graph_leak.py") and finding.line == step_line


def test_a_list_of_loss_tensors_is_a_leak():
    losses = []
    san = _loop(_mlp(), 4, losses.append)
    assert [f.kind for f in san.findings] == ["graph-leak"]


@pytest.mark.parametrize("keep", ["item", "detach", "last", "best"])
def test_healthy_ways_to_keep_the_loss_are_quiet(keep):
    state: dict = {"running": 0.0, "best": None}

    def store(loss):
        if keep == "item":
            state["running"] += loss.item()
        elif keep == "detach":
            state["running"] += loss.detach()
        elif keep == "last":
            state["last"] = loss  # only the step that just ended: held by the loop anyway
        elif state["best"] is None or loss.item() < state["best"].item():
            state["best"] = loss  # one graph at a time, never a growing chain

    san = _loop(_mlp(), 6, store)
    assert not [f for f in san.findings if f.kind == "graph-leak"]


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_healthy_models_do_not_leak(name):
    build, batch = HEALTHY[name]
    from runtime_health_models import train

    san = train(build(), batch, steps=5)
    assert not [f for f in san.findings if f.kind == "graph-leak"]


def test_two_steps_are_not_enough_and_the_report_says_so():
    held = []
    san = _loop(_mlp(), 2, held.append)
    assert not san.findings
    assert "graph-leak: a graph leak shows after 3 steps" in san.report()
