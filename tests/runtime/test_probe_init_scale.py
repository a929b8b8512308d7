"""``init-scale``: the activation scale across depth on the first training step."""

from __future__ import annotations

import pytest
import torch
from runtime_health_models import train
from torch import nn

import dlsan


def _mlp(depth: int = 8, width: int = 64, std: float | None = 0.01, activation: type = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        linear = nn.Linear(width, width)
        if std is not None:
            nn.init.normal_(linear.weight, std=std)  # each layer scales the signal by ~std * sqrt(width)
        layers += [linear, activation()]
    return nn.Sequential(*layers, nn.Linear(width, 3))


def _batch():
    return torch.randn(32, 64), torch.randint(0, 3, (32,))


def test_a_badly_initialised_deep_mlp_collapses_at_the_first_step():
    san = train(_mlp(), _batch, steps=3, checks=["init-scale"])
    (finding,) = san.findings
    assert finding.kind == "init-scale" and finding.code == "DLS810" and finding.step == 1
    assert finding.details["collapse"] and finding.details["product"] < 1e-3
    assert finding.details["layers"][:2] == ["0", "2"] and finding.module == "0"
    assert "kaiming_normal_" in finding.message and "collapses across depth" in finding.message


def test_tanh_stacks_get_the_glorot_suggestion_and_blow_ups_are_found():
    san = train(_mlp(activation=nn.Tanh), _batch, steps=1, checks=["init-scale"])
    (finding,) = san.findings
    assert finding.details["collapse"] and "xavier_normal_" in finding.message
    san = train(_mlp(depth=6, std=1.0, activation=nn.Identity), _batch, steps=1, checks=["init-scale"])
    (finding,) = san.findings
    assert not finding.details["collapse"] and finding.details["product"] > 1e3 and "blows up" in finding.message


@pytest.mark.parametrize("init", ["default", "kaiming", "normalised"])
def test_well_scaled_deep_models_are_quiet(init):
    model = _mlp(depth=5, std=None)  # PyTorch's default: about 0.4x per ReLU layer, 0.01 over 5
    if init == "kaiming":
        for layer in model:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    if init == "normalised":  # a bad init, but LayerNorm resets the scale at every layer
        model = nn.Sequential(*[m for layer in _mlp(depth=8) for m in (layer, nn.LayerNorm(64))
                                if not isinstance(layer, nn.LayerNorm)][:-1])
    san = train(model, _batch, steps=2, checks=["init-scale"])
    assert not san.findings, san.report()


def test_only_the_first_training_pass_is_measured_and_hooks_go_away():
    model = _mlp()
    with dlsan.instrument(model, on_error="record", checks=["init-scale"]) as san:
        with torch.no_grad():
            model(torch.randn(4, 64))  # evaluation: not measured
        assert not san.findings
        model(torch.randn(4, 64)).sum().backward()
        assert [f.kind for f in san.findings] == ["init-scale"]
        probe = san.probes[0]
        # the probe's hook rode on the core's one hook of the Linear layer, and is gone from it
        hooks = [*model[0]._forward_hooks.values(), *san.recorder._riders[id(model[0])]]
        assert probe._measuring is False and len(hooks) == 1
        # and the router no longer calls it: nothing is left for it to do at any event
        assert not any(probe in {c.__self__ for c in calls} for calls in san._router._events.values())
