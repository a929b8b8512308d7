"""NaN/Inf in the backward pass, the loss, parameter gradients, and loss scaling."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dlsan
from dlsan.runtime import NonFiniteError
from dlsan.runtime.probes import nonfinite


def test_names_the_module_whose_backward_produced_nan(toys, x):
    model = toys.mlp(toys.SqrtOfZero())
    with dlsan.instrument(model) as san:
        out = model(x)
        assert not san.findings  # the forward pass is finite
        with pytest.raises(NonFiniteError) as info:
            out.sum().backward()
    err = info.value
    assert (err.module, err.phase, err.step, err.origin) == ("2", "backward", 0, "module")
    assert "the gradient for its input args[0]" in str(err)
    assert "the gradients it received for its outputs were finite" in str(err)


def test_backward_culprit_inside_nested_blocks(toys, x):
    model = toys.Nested(toys.SqrtOfZero())
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(x).sum().backward()
    assert (info.value.module, info.value.phase) == ("blocks.1.inner.1", "backward")


def test_backward_culprit_is_the_innermost_of_the_modules_sharing_an_input(toys, x):
    model = nn.Sequential(nn.Linear(8, 8), nn.Sequential(toys.SqrtOfZero(), nn.Linear(8, 4)))
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(x).sum().backward()
    assert info.value.module == "1.0"


def test_backward_culprit_in_the_parents_own_code(toys, x):
    model = toys.OwnCodeGradBug()
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(x).sum().backward()
    assert (info.value.module, info.value.phase) == ("", "backward")
    assert "the gradient it computed for the output of 'first'" in str(info.value)


def test_a_nonfinite_loss_gradient_is_blamed_on_the_loss(toys, x):
    model = toys.mlp()
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        out = model(x)
        torch.sqrt(out - out.detach()).sum().backward()
    assert (info.value.module, info.value.phase, info.value.origin) == ("", "backward", "loss")


def test_backward_through_inplace_relu(toys, x):
    model = nn.Sequential(
        nn.Linear(8, 16), nn.ReLU(inplace=True), toys.SqrtOfZero(), nn.ReLU(inplace=True), nn.Linear(16, 4)
    )
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(x).sum().backward()
    assert (info.value.module, info.value.phase) == ("2", "backward")


def test_gradient_made_by_parent_code_next_to_a_relu_is_not_blamed_on_the_relu(x):
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin, self.act, self.out = nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)

        def forward(self, t):
            h = self.lin(t)
            return self.out(self.act(h) + torch.sqrt(h - h))  # h feeds the ReLU and the parent's sqrt

    model = Block()
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(x).sum().backward()
    assert (info.value.module, info.value.phase) == ("", "backward")


def test_input_that_requires_grad(toys, x):
    model = nn.Sequential(toys.SqrtOfZero(), nn.Linear(8, 4))
    x.requires_grad_(True)
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(x).sum().backward()
    assert (info.value.module, info.value.phase) == ("0", "backward")


def test_double_backward_keeps_numerics_and_no_graph_in_the_checks(toys, x, monkeypatch):
    """A gradient penalty (WGAN-GP, R1): backward(create_graph=True) gives gradients that carry a
    graph; the per-slot sums must not join it, or each check would keep that graph alive."""
    seen: list[torch.Tensor] = []
    original = nonfinite.NonFiniteProbe.on_backward_end

    def recording(self, window):
        seen.extend(window.values)
        original(self, window)

    monkeypatch.setattr(nonfinite.NonFiniteProbe, "on_backward_end", recording)

    def penalised_grads(instrumented: bool) -> list[torch.Tensor]:
        torch.manual_seed(3)
        model = toys.mlp()
        inputs = x.clone().requires_grad_(True)
        san = dlsan.instrument(model) if instrumented else None
        (grad_in,) = torch.autograd.grad(model(inputs).sum(), inputs, create_graph=True)
        (grad_in.norm() - 1).pow(2).backward()
        if san is not None:
            assert not san.findings
            san.remove()
        return [p.grad for p in model.parameters()]

    plain, watched = penalised_grads(False), penalised_grads(True)
    assert [g is None for g in plain] == [g is None for g in watched] != [True] * len(plain)
    assert all(torch.equal(a, b) for a, b in zip(plain, watched) if a is not None)
    assert seen and not any(value.requires_grad for value in seen)


def test_steps_count_backward_passes_without_an_optimizer(toys, x):
    model = toys.mlp()
    with dlsan.instrument(model) as san:
        for _ in range(3):
            model(x).sum().backward()
        assert san.step == 3


def test_steps_count_optimizer_steps_and_findings_carry_them(toys, x):
    model = toys.mlp(toys.SqrtOfZero())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with dlsan.instrument(model, optimizer=optimizer, on_error="record") as san:
        for _ in range(3):
            model(x).sum().backward()  # two backward passes per step: accumulation
            model(x).sum().backward()
            optimizer.zero_grad()  # dlsan: ignore[DLS505] - keep the NaN gradients out of the weights
            optimizer.step()
        assert san.step == 3
    # (zero_grad before step also leaves every parameter without a gradient: unused-parameter says so)
    (finding,) = [f for f in san.findings if f.kind == "nonfinite"]
    assert (finding.step, finding.details["count"], finding.details["last_step"]) == (0, 6, 2)


def test_nonfinite_forward_is_not_reported_again_in_backward(toys, x):
    model = toys.mlp(toys.Log())
    with dlsan.instrument(model, on_error="record") as san:
        model(x).sum().backward()
    assert [(f.phase, f.module) for f in san.findings] == [("forward", "2")]


def test_weight_only_gradient_bug_is_named_at_the_next_forward(x):
    class SqrtWeight(nn.Module):  # d/dw sqrt(w) is inf at w = 0; the input gradient stays finite
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(8))

        def forward(self, t):
            return t * torch.sqrt(self.w) + t

    model = nn.Sequential(SqrtWeight(), nn.Linear(8, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with dlsan.instrument(model, optimizer=optimizer) as san:
        model(x).sum().backward()
        optimizer.step()
        with pytest.raises(NonFiniteError) as info:
            model(x)
    assert (info.value.module, info.value.origin, info.value.step) == ("0", "parameter", 1)
    assert san.step == 1


def _amp_step(model, optimizer, scaler, x, y):
    optimizer.zero_grad()
    with torch.autocast("cpu", dtype=torch.float16):
        loss = nn.functional.cross_entropy(model(x).float(), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


@pytest.mark.parametrize("fused", [False, True], ids=["sgd", "fused-adam"])
def test_loss_scaler_skipped_steps_are_not_errors(toys, fused):
    model = toys.mlp(width=32)
    # a fused optimizer receives the scaler's found_inf flag and skips inside its own step()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, fused=True) if fused else torch.optim.SGD(
        model.parameters(), lr=0.01
    )
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**24)  # overflows fp16 gradients at first
    x, y = torch.randn(32, 8), torch.randint(0, 4, (32,))
    with dlsan.instrument(model, optimizer=optimizer, scaler=scaler) as san:
        for _ in range(8):
            _amp_step(model, optimizer, scaler, x, y)
        assert san.step == 8
    assert scaler.get_scale() < 2.0**24  # the scaler did skip steps
    assert not san.findings
    assert "step" not in scaler.__dict__  # the wrapper is gone


def test_without_the_scaler_those_inf_gradients_are_reported(toys):
    model = toys.mlp(width=32)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**24)
    x, y = torch.randn(32, 8), torch.randint(0, 4, (32,))
    with dlsan.instrument(model, optimizer=optimizer), pytest.raises(NonFiniteError) as info:
        _amp_step(model, optimizer, scaler, x, y)
    assert info.value.phase == "backward"


def test_scaler_does_not_hide_real_forward_bugs(toys):
    model = toys.mlp(toys.Log(), width=32)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu")
    x, y = torch.randn(32, 8), torch.randint(0, 4, (32,))
    with dlsan.instrument(model, scaler=scaler), pytest.raises(NonFiniteError) as info:
        _amp_step(model, optimizer, scaler, x, y)
    assert (info.value.module, info.value.phase) == ("2", "forward")


def test_scaler_still_reports_backward_bugs_on_steps_it_applies(toys):
    """The scaler skips a step only when *parameter* gradients overflow; a NaN gradient for the
    input (an adversarial-training setup) does not stop the update and is still a bug."""
    model = nn.Sequential(toys.SqrtOfZero(), nn.Linear(8, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=1.0)
    x, y = torch.randn(32, 8, requires_grad=True), torch.randint(0, 4, (32,))
    with dlsan.instrument(model, scaler=scaler, on_error="record") as san:
        _amp_step(model, optimizer, scaler, x, y)
    assert san.step == 1
    assert [(f.module, f.phase) for f in san.findings] == [("0", "backward")]
