"""torch.compile: an instrumented model compiles without graph breaks and still trains."""

from __future__ import annotations

import pytest
import torch

import dlsan
from dlsan.runtime import NonFiniteError

dynamo = pytest.importorskip("torch._dynamo")


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    dynamo.reset()
    yield
    dynamo.reset()


def test_hooks_cause_no_graph_break(toys, x):
    model = toys.mlp()
    with dlsan.instrument(model, shapes={"0": "B D -> B H"}):
        explanation = dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_compiled_model_trains_and_gradients_are_still_checked(toys, x):
    model = toys.mlp(toys.SqrtOfZero())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with dlsan.instrument(model, optimizer=optimizer) as san:
        compiled = torch.compile(model, backend="aot_eager")
        optimizer.zero_grad()
        compiled(x).sum().backward()
        with pytest.raises(NonFiniteError) as info:
            optimizer.step()  # dlsan refuses to apply the NaN gradients
    assert (info.value.phase, info.value.origin) == ("backward", "parameter-gradient")
    assert "no eager forward pass was recorded" in str(info.value)
    assert san.step == 0 and torch.isfinite(model[0].weight).all()
