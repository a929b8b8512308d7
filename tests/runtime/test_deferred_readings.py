"""Readings that wait for the next hook (``SequencePlan.defer_after``) still read what each tensor
held when the recorder saw it: every place where something may change a tensor in place before
then makes the readings be taken at once, and the first bad layer is still the one named."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dlsan
from dlsan.runtime import NonFiniteError
from dlsan.runtime import recorder as recorder_module


def overflowing_linear(features: int = 4) -> nn.Linear:
    """A Linear layer whose output is ``+inf`` (no NaN) for an input of ones: finite weights at the
    float32 maximum, summed."""
    layer = nn.Linear(features, features)
    with torch.no_grad():
        layer.weight.fill_(torch.finfo(torch.float32).max)
        layer.bias.zero_()
    return layer


class Clamp(nn.Module):
    """User code that changes its input in place (``clamp_`` turns ``+inf`` into 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp_(max=1.0)


class ClampsBetweenCalls(nn.Module):
    """Calls a child of its ``nn.Sequential`` directly, then changes the child's output in place in
    its own code, outside the sequence."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(overflowing_linear(), nn.Linear(4, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.seq[0](x)
        y.clamp_(max=1.0)
        out: torch.Tensor = self.seq[1](y)
        return out


def first_bad_module(model: nn.Module, x: torch.Tensor) -> str:
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as raised:
        model(x)
    return raised.value.finding.module


def test_an_inplace_child_makes_the_reading_be_taken_before_it_runs():
    # Hardtanh(inplace=True) is unhooked inside the sequence and clamps the +inf to 1 in place: a
    # reading that waited past it would see a finite tensor and nothing would be reported
    model = nn.Sequential(overflowing_linear(), nn.Hardtanh(inplace=True), nn.Linear(4, 2))
    assert first_bad_module(model, torch.ones(3, 4)) == "0"


def test_a_child_called_from_user_code_is_read_at_once():
    # seq.0 may wait inside its sequence, not when its parent's own code runs after it
    assert first_bad_module(ClampsBetweenCalls(), torch.ones(3, 4)) == "seq.0"


def test_a_child_that_changes_its_input_is_preceded_by_the_readings():
    # Clamp is hooked before its call: the waiting readings are taken there, before clamp_ runs
    model = nn.Sequential(overflowing_linear(), Clamp(), nn.Linear(4, 2))
    assert first_bad_module(model, torch.ones(3, 4)) == "0"


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))


@pytest.fixture
def foreach_calls(monkeypatch) -> list[int]:
    """The number of tensors of each batched reading (``foreach_max`` call) the recorder takes."""
    calls: list[int] = []

    def counting(tensors: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        calls.append(len(tensors))
        return tuple(tensor.amax() for tensor in tensors)

    monkeypatch.setattr(recorder_module, "foreach_max", counting)
    return calls


def test_a_plain_sequential_reads_its_values_together(foreach_calls):
    model = mlp()
    with dlsan.instrument(model):
        model(torch.randn(5, 8)).sum().backward()
    assert foreach_calls == [4]  # the input and the three Linear outputs, in one call


@pytest.mark.parametrize("layer", [0, 2, 4])
def test_the_first_bad_layer_of_a_plain_sequential_is_still_named(layer):
    model = mlp()
    with torch.no_grad():
        model[layer].weight.fill_(torch.finfo(torch.float32).max)
    assert first_bad_module(model, torch.ones(5, 8)) == str(layer)


def test_a_bad_input_is_still_blamed_on_the_input():
    model = mlp()
    x = torch.randn(5, 8)
    x[0, 0] = float("nan")
    with dlsan.instrument(model), pytest.raises(NonFiniteError, match="already in the model input"):
        model(x)


def test_a_large_cpu_value_is_read_on_its_own_and_still_checked(foreach_calls):
    # the CPU's _foreach_max is slower than amax on large tensors: the 40,000-element input is read
    # by an amax of its own, the small Linear outputs still in one batch, and a NaN in it is seen
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8000, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    x = torch.randn(5, 8000)
    with dlsan.instrument(model):
        model(x).sum().backward()
    assert foreach_calls == [3]
    x[4, 7999] = float("nan")
    with dlsan.instrument(model), pytest.raises(NonFiniteError, match="already in the model input"):
        model(x)
