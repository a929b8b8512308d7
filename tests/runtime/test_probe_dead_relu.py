"""``dead-relu``: ReLU layers whose units never fire over a window of steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from runtime_health_models import kinds, train
from torch import nn

import dlsan


def _batch():
    return torch.randn(16, 10), torch.randint(0, 3, (16,))


def _dead_mlp(relu: nn.Module) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(10, 32), relu, nn.Linear(32, 3))
    with torch.no_grad():
        model[0].bias.fill_(-50)  # every pre-activation is negative: no unit ever fires
    return model


@pytest.mark.parametrize("relu", [nn.ReLU(), nn.ReLU(inplace=True), nn.ReLU6(), nn.LeakyReLU(0.0)])
def test_bias_minus_50_before_a_relu_is_reported(relu):
    san = train(_dead_mlp(relu), _batch, steps=20, checks=["dead-relu"])
    (finding,) = san.findings
    assert finding.kind == "dead-relu" and finding.module == "1" and finding.phase == "forward"
    assert finding.details["fraction"] == 1.0 and finding.details["units"] == 32
    assert finding.details["window"] == [1, 20]
    assert "100% of the 32 units" in finding.message and "steps 1-20" in finding.message


def test_a_relu_seen_at_the_layer_it_feeds_counts_only_what_the_relu_returned():
    # the ReLU of an nn.Sequential is watched at the next layer's input (the ReLU has no hook);
    # the same layer called on other activations elsewhere must not make the dead units look alive
    model = _dead_mlp(nn.ReLU())
    assert not model[1]._forward_hooks and not model[1]._forward_pre_hooks
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with dlsan.instrument(model, optimizer=optimizer, checks=["dead-relu"]) as san:
        for _ in range(20):
            optimizer.zero_grad()
            x, _ = _batch()
            aux = model[2](torch.tanh(torch.randn(16, 32, requires_grad=True)))  # not a ReLU's output
            (model(x).sum() + aux.sum()).backward()
            optimizer.step()
    (finding,) = san.findings
    assert finding.module == "1" and finding.details["fraction"] == 1.0 and finding.details["site"] == "output"


def test_a_leaky_relu_with_a_slope_is_not_a_relu():
    san = train(_dead_mlp(nn.LeakyReLU(0.01)), _batch, steps=20, checks=["dead-relu"])
    assert not san.findings


def test_conv_units_are_channels():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    with torch.no_grad():
        model[0].bias[:3] = -50  # 3 of 4 channels dead (75%), though most *elements* are dead too
    san = train(model, lambda: (torch.randn(4, 3, 6, 6), torch.randint(0, 3, (4,))), steps=8, checks=["dead-relu"])
    (finding,) = san.findings
    assert finding.details["units"] == 4 and finding.details["fraction"] == 0.75


def test_partly_dead_below_the_threshold_is_quiet_and_the_threshold_is_configurable():
    def half_dead():
        model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
        with torch.no_grad():
            model[0].bias[:16] = -50
        return model

    assert not train(half_dead(), _batch, steps=20, checks=["dead-relu"]).findings
    san = train(half_dead(), _batch, steps=20, checks=["dead-relu"], options={"dead-relu": {"threshold": 0.5}})
    assert [f.details["fraction"] for f in san.findings] == [0.5]


def test_units_that_fire_once_in_the_window_are_alive():
    model = _dead_mlp(nn.ReLU())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with dlsan.instrument(
        model, optimizer=optimizer, checks=["dead-relu"], on_error="record", options={"dead-relu": {"window": 4}}
    ) as san:
        for step in range(4):
            x = torch.randn(2, 10) + (100.0 if step == 2 else 0.0)  # one batch lifts every unit
            model[0].bias.data.fill_(-50 if step != 2 else 50)
            F.cross_entropy(model(x), torch.tensor([0, 1])).backward()
            optimizer.step()  # dlsan: ignore[DLS504] (gradients are irrelevant to this probe)
    assert not san.findings


def test_windows_restart_so_a_layer_that_dies_later_is_caught():
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with dlsan.instrument(
        model, optimizer=optimizer, checks=["dead-relu"], on_error="record", options={"dead-relu": {"window": 5}}
    ) as san:
        for step in range(10):
            if step == 5:
                model[0].bias.data.fill_(-50)
            F.cross_entropy(model(torch.randn(8, 10)), torch.randint(0, 3, (8,))).backward()
            optimizer.step()  # dlsan: ignore[DLS504] (gradients are irrelevant to this probe)
    (finding,) = san.findings
    assert finding.details["window"] == [6, 10]


def test_evaluation_passes_do_not_count_and_inference_mode_is_harmless():
    """Units that fire only on evaluation inputs still learn nothing; and an inference_mode pass
    before the first training pass must not leave the probe an inference tensor it later updates
    in place (that raises outside inference_mode)."""
    model = _dead_mlp(nn.ReLU())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    lifting = torch.full((4, 10), 100.0) @ torch.diag(torch.sign(model[0].weight.sum(0)))  # fires units
    with dlsan.instrument(model, optimizer=optimizer, checks=["dead-relu"], on_error="record") as san:
        for step in range(20):
            with torch.inference_mode() if step % 2 else torch.no_grad():
                model(lifting)
            F.cross_entropy(model(torch.randn(8, 10)), torch.randint(0, 3, (8,))).backward()
            optimizer.step()  # dlsan: ignore[DLS504] (gradients are irrelevant to this probe)
    (finding,) = san.findings
    assert finding.details["fraction"] == 1.0


def test_a_module_whose_forward_ends_in_functional_relu_is_watched():
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(10, 32)

        def forward(self, x):
            return F.relu(self.lin(x))

    class Uses(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(10, 32)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.lin(x))  # a sub-module call: the ReLU is watched itself, once

    for block in (Block(), Uses()):
        model = nn.Sequential(block, nn.Linear(32, 3))
        with torch.no_grad():
            block.lin.bias.fill_(-50)
        san = train(model, _batch, steps=20, checks=["dead-relu"])
        assert [f.module for f in san.findings] == (["0"] if isinstance(block, Block) else ["0.act"])


def test_an_open_window_is_judged_at_the_end_once():
    san = train(_dead_mlp(nn.ReLU()), _batch, steps=6, checks=["dead-relu"])  # window 20: still open
    (finding,) = san.findings
    assert finding.details["window"] == [1, 6] and finding.details["count"] == 1
    san = train(_dead_mlp(nn.ReLU()), _batch, steps=3, checks=["dead-relu"])  # 2 observed steps: judged
    (finding,) = san.findings
    assert finding.details["partial"] and finding.details["steps"] == 2 and "a partial window" in finding.message
    san = train(_dead_mlp(nn.ReLU()), _batch, steps=1, checks=["dead-relu"])  # too short to judge
    assert not san.findings and "dead-relu: dead units need 2 observed training steps" in san.report()


def test_steps_without_an_optimizer_count_backward_passes():
    san = train(_dead_mlp(nn.ReLU()), _batch, steps=20, with_optimizer=False, checks=["dead-relu"])
    assert kinds(san) == ["dead-relu"] and san.findings[0].details["window"] == [1, 20]


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="threshold"):
        dlsan.instrument(nn.ReLU(), options={"dead-relu": {"threshold": 1.5}})


def test_only_every_sample_every_th_step_is_observed(monkeypatch):
    """The cost lever: forward passes of unsampled steps do no reduction at all."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    calls = []
    real_amax = torch.Tensor.amax

    def counting(self, *args, **kwargs):
        calls.append(1)
        return real_amax(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "amax", counting)
    with dlsan.instrument(model, optimizer=optimizer, checks=["dead-relu"], options={"dead-relu": {"sample_every": 2}}):
        for _ in range(6):
            optimizer.zero_grad()
            model(torch.randn(5, 4)).sum().backward()
            optimizer.step()
    assert len(calls) == 3  # steps 0, 2 and 4 of six


def test_sample_every_must_be_a_positive_int():
    with pytest.raises(ValueError, match="sample_every"):
        dlsan.instrument(nn.ReLU(), checks=["dead-relu"], options={"dead-relu": {"sample_every": 0}})


class FunctionalDead(nn.Module):
    def __init__(self, activation) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(10, 32), nn.Linear(32, 32), nn.Linear(32, 3)
        self.activation = activation
        with torch.no_grad():
            self.fc1.bias.fill_(-50)

    def forward(self, x):
        h = self.activation(self.fc1(x))
        return self.fc3(torch.tanh(self.fc2(h)))


@pytest.mark.parametrize("activation", [F.relu, torch.relu, F.relu6, lambda t: F.hardtanh(t, 0.0, 1.0)])
def test_functional_activations_are_seen_at_the_next_layer_input(activation):
    san = train(FunctionalDead(activation), _batch, steps=3)
    (finding,) = san.findings  # dead units only: never a vanishing-gradient finding
    assert finding.kind == "dead-relu" and finding.code == "DLS803" and finding.module == "fc2"
    assert finding.details["site"] == "input" and finding.details["fraction"] == 1.0
    assert "input units of 'fc2' were exactly zero" in finding.message
    assert finding.path.endswith("test_probe_dead_relu.py")  # FunctionalDead.forward


def test_the_model_input_and_data_without_a_graph_are_not_units():
    model = nn.Sequential(nn.Linear(10, 3))
    zeros = lambda: (torch.zeros(16, 10), torch.randint(0, 3, (16,)))  # noqa: E731
    assert not train(model, zeros, steps=6, checks=["dead-relu"]).findings


def test_a_live_functional_relu_is_quiet():
    model = FunctionalDead(F.relu)
    with torch.no_grad():
        model.fc1.bias.zero_()
    assert not train(model, _batch, steps=6, checks=["dead-relu"]).findings
