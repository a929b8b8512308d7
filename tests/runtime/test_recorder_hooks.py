"""The core hooks fewer modules, and some only once, without losing what the hooks it dropped saw.

Leaf modules of PyTorch's own are recorded by one hook after their call, absorbing activations
(ReLU, sigmoid...) inside an ``nn.Sequential`` are not hooked at all (see
``dlsan.runtime.recorder.SequencePlan``).  Each test here fails when one of those shortcuts is
taken where it must not be.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dlsan
from dlsan.runtime import NonFiniteError
from dlsan.runtime.probe import _REGISTRY, Probe, register_probe


class MinusInf(nn.Module):
    """Returns ``-inf`` everywhere: the first bad layer (a ``log(0)``), although ``-inf`` is
    accepted inside the model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - float("inf")


class TimesZero(nn.Module):
    """Turns the ``-inf`` it receives into NaN: where the NaN appears, not where it comes from."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0


class NanInPlace(nn.Module):
    """A user's leaf module that writes NaN into its input in place and returns it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul_(float("nan"))


def _first_finding(model: nn.Module, x: torch.Tensor) -> dlsan.Finding:
    with pytest.raises(NonFiniteError) as caught, dlsan.instrument(model, checks=["nonfinite"], replay=False):
        model(x)
    return caught.value.finding


@pytest.mark.parametrize("passing", [nn.Flatten(), nn.MaxPool1d(1), nn.Identity()], ids=type)
def test_minus_inf_passed_through_a_preserving_module_is_traced_to_its_source(passing):
    # Flatten and pooling pass -inf on in a new tensor: hooked, their output is a module's output
    # holding -inf, which the tracing follows back to MinusInf; unhooked, it would look like an
    # input the Sequential's own code made, and the NaN would be blamed on TimesZero
    model = nn.Sequential(nn.Linear(4, 4), MinusInf(), passing, TimesZero())
    finding = _first_finding(model, torch.randn(3, 2, 4))
    assert finding.module == "1"


def test_an_absorbing_activation_before_the_bad_layer_leaves_the_blame_there():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), MinusInf(), nn.Sigmoid(), TimesZero(), nn.Linear(4, 2))
    # sigmoid turns -inf into 0: the product is finite, nothing is wrong inside the model
    with dlsan.instrument(model, checks=["nonfinite"]) as san:
        model(torch.randn(3, 4)).sum().backward()
    assert not san.findings
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), NanInPlace(), nn.ReLU(), nn.Linear(4, 2))
    assert _first_finding(model, torch.randn(3, 4)).module == "2"


@pytest.mark.parametrize(
    "in_place", [nn.Threshold(0.0, float("nan"), inplace=True), NanInPlace()], ids=["torch inplace=True", "user module"]
)
def test_a_module_that_changes_its_input_in_place_is_watched_from_the_start(in_place):
    # recorded after the call, its input would already hold the NaN it wrote, and the NaN would
    # be blamed on the tensor the Sequential passed it (or on the model input)
    model = nn.Sequential(nn.Linear(4, 4), in_place, nn.Linear(4, 2))
    finding = _first_finding(model, torch.randn(3, 4))
    assert finding.module == "1" and finding.details["origin"] == "module"


def test_a_leaf_called_on_its_own_is_a_forward_pass_of_its_own():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(NonFiniteError) as caught, dlsan.instrument(model, checks=["nonfinite"], replay=False):
        model[2](torch.full((3, 4), float("nan")))
    assert caught.value.finding.details["origin"] == "input" and caught.value.finding.module == "2"


def test_the_gradient_after_an_unhooked_activation_is_still_checked():
    # the ReLU between the layers is not hooked: the gradient for its output (fc2's input) is
    # checked where fc2 receives it, so fc2's backward is named
    class Overflow(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[override]
            return x.clone()

        @staticmethod
        def backward(ctx, grad):  # type: ignore[override]
            return grad * float("inf")

    class Fc2(nn.Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(Overflow.apply(x))

    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), Fc2(4, 2))
    with pytest.raises(NonFiniteError) as caught, dlsan.instrument(model, checks=["nonfinite"], replay=False):
        model(torch.randn(3, 4)).sum().backward()
    assert caught.value.finding.phase == "backward" and caught.value.finding.module == "2"


class _Watching(Probe):
    """Registers an input hook and a forward hook on every module named in ``on`` and keeps what
    they saw."""

    name = "test-watching"
    default = False

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []

    def attach(self, sanitizer):
        super().attach(sanitizer)
        for _, module in sanitizer.named_modules():
            if isinstance(module, (nn.Linear, nn.ReLU)):
                sanitizer.register_input_hook(module, lambda m, args, *_: self.inputs.append(args[0].clone()))
                sanitizer.register_forward_hook(module, lambda m, args, out: self.outputs.append(out.clone()))


@pytest.fixture
def watching():
    register_probe(_Watching)
    yield _Watching
    del _REGISTRY["test-watching"]


def test_probe_hooks_on_a_pytorch_leaf_ride_on_the_core_hook(watching):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(3, 4)
    with dlsan.instrument(model, checks=["nonfinite", "test-watching"]) as san:
        out = model(x)
        (probe,) = [p for p in san.probes if p.name == "test-watching"]
        # one Python hook on each Linear layer, the core's, which ran the probe's two as well
        assert [len(model[i]._forward_hooks) + len(model[i]._forward_pre_hooks) for i in (0, 2)] == [1, 1]
    hidden = torch.relu(nn.functional.linear(x, model[0].weight, model[0].bias))
    assert len(probe.inputs) == len(probe.outputs) == 3  # the two layers and the ReLU between them
    assert torch.equal(probe.inputs[0], x) and torch.equal(probe.inputs[2], hidden)
    assert torch.equal(probe.outputs[1], hidden) and torch.equal(probe.outputs[2], out)


def test_an_input_hook_on_a_module_that_works_in_place_runs_before_the_call(watching):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 2))
    x = torch.randn(16, 4)
    with dlsan.instrument(model, checks=["nonfinite", "test-watching"]) as san:
        model(x)
        (probe,) = [p for p in san.probes if p.name == "test-watching"]
        assert model[1]._forward_pre_hooks  # the probe's input hook, before the call
    relu_input = probe.inputs[1]  # what the in-place ReLU received, before it zeroed the negatives
    assert bool((relu_input < 0).any())


class _TwoLayers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class _PassSizes(Probe):
    """Keeps, per forward pass, how many readings the core took."""

    name = "test-pass-sizes"
    default = False

    def __init__(self) -> None:
        super().__init__()
        self.readings: list[int] = []

    def on_forward_end(self, fwd):
        self.readings.append(len(fwd.values))


@pytest.fixture
def pass_sizes():
    register_probe(_PassSizes)
    yield _PassSizes
    del _REGISTRY["test-pass-sizes"]


@pytest.mark.parametrize("checks", [["test-pass-sizes"], ["nonfinite", "test-pass-sizes"]])
def test_the_core_reads_values_only_when_a_probe_needs_them(pass_sizes, checks):
    model = _TwoLayers()  # not a Sequential: its layers' readings are taken when seen, not deferred
    with dlsan.instrument(model, checks=checks) as san:
        model(torch.randn(3, 4)).sum().backward()
        (probe,) = [p for p in san.probes if p.name == "test-pass-sizes"]
    assert bool(probe.readings[0]) == ("nonfinite" in checks)
