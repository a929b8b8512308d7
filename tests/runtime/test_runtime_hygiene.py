"""Instrumentation changes nothing: numerics, RNG, memory, hooks after remove(), host syncs."""

from __future__ import annotations

import gc
import warnings
import weakref

import pytest
import torch
from torch import nn

import dlsan
from dlsan.runtime import SanitizerWarning
from dlsan.runtime.probes import nonfinite


def _train(toys, instrumented: bool, steps: int = 4):
    torch.manual_seed(1)
    model = toys.DropoutNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    san = dlsan.instrument(model, optimizer=optimizer) if instrumented else None
    outputs, grads = [], []
    for _ in range(steps):
        optimizer.zero_grad()
        out = model(x)
        nn.functional.cross_entropy(out, y).backward()
        outputs.append(out.detach().clone())
        grads.append([p.grad.clone() for p in model.parameters()])
        optimizer.step()
    if san is not None:
        assert san.step == steps and not san.findings
        san.remove()
    return outputs, grads, [p.detach().clone() for p in model.parameters()], torch.get_rng_state()


def test_outputs_gradients_parameters_and_rng_are_bitwise_identical(toys):
    plain = _train(toys, instrumented=False)
    watched = _train(toys, instrumented=True)
    for a, b in zip(plain[0], watched[0]):
        assert torch.equal(a, b)
    for step_a, step_b in zip(plain[1], watched[1]):
        assert all(torch.equal(a, b) for a, b in zip(step_a, step_b))
    assert all(torch.equal(a, b) for a, b in zip(plain[2], watched[2]))
    assert torch.equal(plain[3], watched[3])  # the global RNG advanced exactly as without dlsan


def test_instrument_and_remove_draw_no_random_numbers(toys):
    model = toys.DropoutNet()
    state = torch.get_rng_state()
    san = dlsan.instrument(model)
    san.remove()
    assert torch.equal(state, torch.get_rng_state())


def test_no_tensor_outlives_the_step(toys, x):
    model = toys.mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    seen: list[weakref.ref] = []
    model[0].register_forward_hook(lambda m, a, out: seen.append(weakref.ref(out)))
    with dlsan.instrument(model, optimizer=optimizer) as san:
        batch = x.clone()
        out = model(batch)
        out.sum().backward()
        optimizer.step()
        refs = [weakref.ref(batch), weakref.ref(out), *seen]
        del batch, out
        assert all(ref() is None for ref in refs), "dlsan kept a tensor of the step alive"
        assert san.recorder.current is None


def test_a_graph_without_backward_is_freed_with_its_output(toys, x):
    model = toys.mlp(width=64)
    seen: list[weakref.ref] = []
    model[1].register_forward_hook(lambda m, a, out: seen.append(weakref.ref(out)))
    with dlsan.instrument(model):
        out = model(x)  # the graph saves the ReLU output and holds dlsan's gradient hooks
        assert seen[0]() is not None
        del out
        assert seen[0]() is None


def test_remove_detaches_everything_and_is_idempotent(toys, x):
    model = toys.Nested()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    san = dlsan.instrument(model, optimizer=optimizer, scaler=scaler, shapes={"head": "B D -> B K"})
    assert model.head._forward_hooks and "step" in scaler.__dict__ and optimizer._optimizer_step_pre_hooks
    san.remove()
    san.remove()
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not module._forward_hooks_always_called and not module._forward_pre_hooks_with_kwargs
        assert not module._backward_hooks and not module._backward_pre_hooks
    assert not optimizer._optimizer_step_pre_hooks and not optimizer._optimizer_step_post_hooks
    assert "step" not in scaler.__dict__
    assert not san.attached


def test_context_exit_detaches_even_when_the_body_raised(toys, x):
    model = toys.mlp()
    with pytest.raises(KeyError):
        with dlsan.instrument(model) as san:
            model(x)
            raise KeyError("user bug")
    assert not san.attached and not model[0]._forward_hooks


def test_a_dropped_sanitizer_detaches_and_warns(toys, x):
    model = toys.mlp()
    san = dlsan.instrument(model)
    ref = weakref.ref(san)
    with pytest.warns(SanitizerWarning, match="garbage-collected while attached"):
        del san
        gc.collect()
    assert ref() is None, "the model's hooks kept the sanitizer alive"
    assert not model[0]._forward_hooks


def test_a_removed_sanitizer_is_collected_quietly(toys):
    san = dlsan.instrument(toys.mlp())
    san.remove()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del san
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, SanitizerWarning)]


def test_exit_on_error_keeps_the_users_exception_and_records_pending_findings(toys, x):
    model = toys.mlp(toys.Log())
    with pytest.raises(KeyError), pytest.warns(SanitizerWarning):
        with dlsan.instrument(model, every=10) as san:
            out = model(x)  # NaN, not looked at yet (out keeps Log's -inf alive to trace it back)
            raise KeyError(f"user bug {out.shape}")
    assert [f.module for f in san.findings] == ["2"]


class _NoSync:
    """Make every way of reading a tensor's value on the host raise."""

    NAMES = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy")

    def __enter__(self):
        def refuse(*args, **kwargs):
            raise AssertionError("host synchronisation inside a hook")

        self.saved = {name: getattr(torch.Tensor, name) for name in self.NAMES}
        for name in self.NAMES:
            setattr(torch.Tensor, name, refuse)
        return self

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            setattr(torch.Tensor, name, value)


def test_hooks_never_read_tensor_values_on_the_host(toys, x):
    model = toys.Nested()
    with dlsan.instrument(model, every=100) as san:
        with _NoSync():
            for _ in range(3):
                out = model(x)
                out.sum().backward()
        with torch.no_grad():
            model.head.bias[0] = float("nan")
        with _NoSync():
            model(x)  # records the NaN, does not look at it
        with pytest.raises(dlsan.NonFiniteError):
            san.check()  # the one place that synchronises


def test_one_host_check_per_forward_and_per_backward_pass(toys, x, monkeypatch):
    calls = []
    real = nonfinite.host_values
    monkeypatch.setattr(nonfinite, "host_values", lambda values: calls.append(len(values)) or real(values))
    model = toys.Nested()
    with dlsan.instrument(model):
        for _ in range(3):
            model(x).sum().backward()
    assert len(calls) == 6
    assert all(n > 5 for n in calls)  # each check covers every module of the pass at once


def test_every_n_checks_once_per_n_passes(toys, x, monkeypatch):
    calls = []
    real = nonfinite.host_values
    monkeypatch.setattr(nonfinite, "host_values", lambda values: calls.append(len(values)) or real(values))
    model = toys.Nested()
    with dlsan.instrument(model, every=3) as san:
        for _ in range(6):
            model(x).sum().backward()
        assert len(calls) == 4  # 2 forward + 2 backward checks for 6 steps
        assert not san.findings
