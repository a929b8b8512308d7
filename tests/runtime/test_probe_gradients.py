"""``vanishing-gradient`` / ``exploding-gradient``: the gradient's trend from output to input layers."""

from __future__ import annotations

import pytest
import torch
from runtime_health_models import HEALTHY, kinds, train
from torch import nn

import dlsan
from dlsan.runtime.probes import gradients


def _sigmoid_stack(depth: int = 16) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        linear = nn.Linear(32, 32)
        nn.init.normal_(linear.weight, std=0.01)  # small init: each layer scales the gradient by ~0.01
        layers += [linear, nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(32, 3))


def _times_three_stack(depth: int = 8) -> nn.Sequential:
    layers = []
    for _ in range(depth):
        linear = nn.Linear(32, 32, bias=False)
        nn.init.orthogonal_(linear.weight)
        linear.weight.data.mul_(3)  # every layer triples the signal, forward and backward
        layers.append(linear)
    return nn.Sequential(*layers, nn.Linear(32, 3))


def _batch():
    return torch.randn(16, 32), torch.randint(0, 3, (16,))


EVERY_STEP = {"gradients": {"sample_every": 1}}  # for tests of step-by-step semantics


def _sustained(san):
    return [f for f in san.findings if f.details.get("origin") != "initialisation" and not f.details.get("partial")]


def _at_initialisation(san):
    return [f for f in san.findings if f.details.get("origin") == "initialisation"]


def test_sixteen_sigmoid_layers_with_small_init_vanish():
    san = train(_sigmoid_stack(), _batch, steps=20, checks=["gradients"])
    (finding,) = _sustained(san)
    assert finding.kind == "vanishing-gradient" and finding.module == "0" and finding.phase == "backward"
    assert finding.details["first"] == "0" and finding.details["last"] == "32"
    assert finding.details["ratio"] < 1e-3 and finding.details["first_norm"] < 1e-4
    # 5 sampled steps in a row, one step in 4 by default
    assert finding.step == 17 and finding.details["window"] == [1, 17]
    assert "vanishing gradients" in finding.message and "'0' (nearest the input)" in finding.message
    assert "5 sampled steps in a row (one step in 4, 1-17)" in finding.message


def test_every_step_is_judged_when_sampling_is_off():
    san = train(_sigmoid_stack(), _batch, steps=10, checks=["gradients"], options=EVERY_STEP)
    (finding,) = _sustained(san)
    assert finding.step == 5 and finding.details["window"] == [1, 5]
    assert "on 5 steps in a row (1-5)" in finding.message


def test_steps_between_samples_are_not_read(monkeypatch):
    norms = []
    real = gradients._norms
    monkeypatch.setattr(gradients, "_norms", lambda *args: norms.append(1) or real(*args))
    build, batch = HEALTHY["mlp"]
    san = train(build(), batch, steps=12, checks=["gradients"], options={"gradients": {"sample_every": 3}})
    assert len(norms) == 4
    assert san.to_dict()["probes"]["gradients"]["norms"]["weight"]["steps"] == [1, 4, 7, 10]


def test_a_deep_linear_stack_with_weights_times_three_explodes_in_the_output_gradients():
    san = train(_times_three_stack(), _batch, steps=17, lr=1e-9, checks=["gradients"])
    (finding,) = san.findings
    assert finding.kind == "exploding-gradient" and finding.details["gradient"] == "output"
    assert finding.details["ratio"] > 70
    # the weight gradients alone see nothing: first and last layer's are about equal
    weight = san.to_dict()["probes"]["gradients"]["norms"]["weight"]["layers"]
    assert 0.1 < weight["0"][0] / weight["8"][0] < 10


def test_one_bad_step_is_not_sustained():
    model = _times_three_stack()
    san = train(model, _batch, steps=16, lr=1e-9, checks=["gradients"])  # window 5: 4 sampled steps are not enough
    assert not _sustained(san) and not _at_initialisation(san)  # 3**8 < 1e4: not judged at initialisation
    # ... but the run ended inside a window whose every sampled step was exploding: a partial report
    (partial,) = san.findings
    assert partial.details["partial"] and partial.details["steps"] == 4 and partial.details["window"] == [1, 13]
    assert "a partial window" in partial.message and "on 4 sampled steps in a row" in partial.message
    options = {"gradients": {"window": 4, "sample_every": 1}}
    san = train(_times_three_stack(), _batch, steps=4, lr=1e-9, checks=["gradients"], options=options)
    assert kinds(san) == ["exploding-gradient"]


def test_a_run_of_steps_is_broken_by_a_healthy_one():
    model = _times_three_stack()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scales = [3, 3, 3, 1 / 3, 3, 3, 3]  # a healthy step in the middle
    options = {"gradients": {"window": 4, "sample_every": 1}}
    with dlsan.instrument(model, optimizer=optimizer, checks=["gradients"], options=options) as san:
        for scale in scales:
            for layer in model[:-1]:
                nn.init.orthogonal_(layer.weight)
                layer.weight.data.mul_(scale)
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(torch.randn(16, 32)), torch.randint(0, 3, (16,))).backward()
            optimizer.step()
    assert not san.findings


def test_non_finite_gradients_are_never_vanishing():
    model = _sigmoid_stack()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with dlsan.instrument(model, optimizer=optimizer, checks=["gradients"], on_error="record") as san:
        for _ in range(6):
            optimizer.zero_grad()
            model(torch.randn(4, 32)).sum().mul(float("nan")).backward()
            optimizer.step()
    assert not san.findings


def test_thresholds_are_configurable():
    build, batch = HEALTHY["mlp"]
    torch.manual_seed(0)
    strict = {"gradients": {"exploding_norm": 1e-6, "sample_every": 1}}
    san = train(build(), batch, steps=6, checks=["gradients"], options=strict)
    (finding,) = san.findings
    assert finding.kind == "exploding-gradient" and "norm" in finding.details and "> 1e-06" in finding.message
    torch.manual_seed(0)
    loose = {"gradients": {"vanishing_ratio": 10.0, "vanishing_norm": 10.0, "sample_every": 1}}
    assert kinds(train(build(), batch, steps=6, checks=["gradients"], options=loose)) == ["vanishing-gradient"]


def test_steps_without_an_optimizer_count_backward_passes():
    san = train(_sigmoid_stack(), _batch, steps=5, with_optimizer=False, checks=["gradients"], options=EVERY_STEP)
    assert kinds(san) == ["vanishing-gradient"]


def test_norms_are_read_once_per_window(monkeypatch):
    reads = []
    real = gradients.GradientProbe._read
    monkeypatch.setattr(gradients.GradientProbe, "_read", lambda self: reads.append(len(self._pending)) or real(self))
    build, batch = HEALTHY["mlp"]
    san = train(build(), batch, steps=12, checks=["gradients"], options=EVERY_STEP)
    assert reads[:3] == [1, 5, 5] and sum(reads) == 12  # the first step is read at once
    assert san.to_dict()["probes"]["gradients"]["norms"]["weight"]["steps"] == list(range(1, 13))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="window"):
        dlsan.instrument(nn.Linear(2, 2), options={"gradients": {"window": 0}})
    with pytest.raises(ValueError, match="sample_every"):
        dlsan.instrument(nn.Linear(2, 2), options={"gradients": {"sample_every": 0}})


def test_three_steps_of_a_sigmoid_stack_vanish_at_initialisation():
    san = train(_sigmoid_stack(), _batch, steps=3, checks=["gradients"])
    (finding,) = san.findings
    assert finding.kind == "vanishing-gradient" and finding.step == 1 and finding.code == "DLS804"
    assert finding.details["origin"] == "initialisation" and finding.details["ratio"] < 1e-6
    assert "at initialisation (step 1, before any update)" in finding.message
    assert "not enough steps" in san.report() and "need 17 steps" in san.report() and "3 seen" in san.report()


def test_three_steps_of_a_deep_times_three_stack_explode_at_initialisation():
    san = train(_times_three_stack(depth=12), _batch, steps=3, lr=1e-9, checks=["gradients"])
    (finding,) = san.findings
    assert finding.kind == "exploding-gradient" and finding.details["origin"] == "initialisation"
    assert finding.details["ratio"] > 1e4 and finding.module == "0"


def test_a_layer_cut_off_by_dead_units_is_not_vanishing():
    model = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    nn.init.constant_(model[0].bias, -100.0)  # every unit of the first ReLU is dead: zero gradient below it
    san = train(model, _batch, steps=3, checks=["gradients"], options=EVERY_STEP)
    assert not san.findings


def test_a_norm_that_overflows_float32_is_exploding_at_once():
    # gradient elements of ~1e37: each finite, but the norm of 10,000 of them (~1e39) overflows
    # float32, as an LSTM's can over a long sequence
    model = nn.Sequential(nn.Linear(100, 100), nn.Linear(100, 100))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with dlsan.instrument(model, optimizer=optimizer, on_error="record", checks=["nonfinite", "gradients"]) as san:
        out = model(torch.ones(1, 100))
        out.backward(torch.full_like(out, 1e37))
        grad = model[1].weight.grad
        assert torch.isfinite(grad).all() and not torch.isfinite(torch.linalg.vector_norm(grad))
        optimizer.step()
    (finding,) = san.findings  # and no nonfinite finding: every element is finite
    assert (finding.kind, finding.step) == ("exploding-gradient", 1)
    assert finding.details["overflow"] and finding.details["norm"] > 3.4e38
    assert "is above the float32 maximum" in finding.message
