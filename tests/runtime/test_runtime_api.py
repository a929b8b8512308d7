"""The public surface: exports, argument checking, the kill switch, reports, the probe registry."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import warnings

import pytest
import torch

import dlsan
from dlsan.runtime import (
    Finding,
    NonFiniteError,
    Probe,
    Sanitizer,
    SanitizerError,
    SanitizerWarning,
    ShapeError,
    register_probe,
)
from dlsan.runtime.probe import _REGISTRY, probe_classes


def test_top_level_exports_are_the_runtime_ones():
    assert dlsan.instrument is dlsan.runtime.instrument
    assert dlsan.Sanitizer is Sanitizer and dlsan.Finding is Finding
    assert dlsan.NonFiniteError is NonFiniteError and dlsan.ShapeError is ShapeError
    assert issubclass(NonFiniteError, RuntimeError) and issubclass(ShapeError, RuntimeError)
    assert dlsan.SanitizerError is SanitizerError and dlsan.SanitizerWarning is SanitizerWarning
    assert {"SanitizerError", "SanitizerWarning"} <= set(dlsan.__all__)


def test_instrument_and_sanitizer_take_the_same_options():
    # instrument() spells its options out (its signature is the documentation) and forwards
    # them to Sanitizer.__init__, which spells them out again: the two lists must not drift
    ours = list(inspect.signature(dlsan.instrument).parameters.values())
    theirs = list(inspect.signature(Sanitizer.__init__).parameters.values())[1:]  # without self
    assert ours == theirs


def test_importing_dlsan_does_not_import_torch():
    code = "import sys, dlsan; assert 'torch' not in sys.modules; dlsan.__version__"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=dlsan.__path__[0] + "/..")


def test_kill_switch_makes_instrument_a_no_op(toys, x, monkeypatch):
    monkeypatch.setenv("DLSAN_DISABLE", "1")
    model = toys.mlp(toys.Log())
    with dlsan.instrument(model, shapes={"nope": "garbage"}) as san:
        model(x).sum().backward()
    assert isinstance(san, Sanitizer) and not san.attached
    assert san.findings == [] and "no findings" in san.report()
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    san.remove()


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"on_error": "ignore"}, "on_error must be one of"),
        ({"every": 0}, "every must be a positive int"),
        ({"checks": ["nonfinite", "dead-reluu"]}, "unknown check"),
        ({"options": {"nonsense": {}}}, "options for unknown check"),
        ({"options": {"dead-relu": {"window": 0}}}, "dead-relu: window must be a positive int"),
        ({"options": {"gradients": {"window": 2.5}}}, "gradients: window must be a positive int"),
        ({"options": {"unused-parameter": {"steps": True}}}, "unused-parameter: steps must be a positive int"),
        (
            {"options": {"dead-relu": {"treshold": 0.9}}},
            "unknown option.*'treshold' for check 'dead-relu'; known: 'threshold', 'window', 'sample_every'",
        ),
        ({"options": {"nonfinite": {"strict": True}}}, "unknown option.*'strict' for check 'nonfinite'; known: none"),
        ({"options": {"gradients": 5}}, "options for 'gradients' must be a dict"),
    ],
)
def test_bad_arguments_are_refused(toys, kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        dlsan.instrument(toys.mlp(), **kwargs)


def test_instrument_needs_a_module():
    with pytest.raises(TypeError, match="needs a torch.nn.Module"):
        dlsan.instrument(lambda t: t)  # type: ignore[arg-type]


def test_checks_select_the_probes(toys, x):
    model = toys.mlp(toys.Log())
    with dlsan.instrument(model, checks=[]) as san:
        model(x)
    assert san.probes == [] and not san.findings
    assert {"nonfinite", "shape"} <= set(probe_classes())


def test_report_and_to_dict(toys, x):
    model = toys.mlp(toys.Log())
    with dlsan.instrument(model, on_error="record") as san:
        model(x)
        model(x)
    report = san.report()
    checks = ["dead-relu", "gradients", "graph-leak", "init-scale", "nonfinite", "shape", "train-mode-in-eval", "unused-parameter"]
    assert report.startswith(f"dlsan: 1 finding in 0 steps (checks: {', '.join(checks)})")
    assert "[nonfinite] step 0 forward 2 (seen 2 times, last at step 0)" in report
    data = json.loads(json.dumps(san.to_dict()))
    (finding,) = data["findings"]
    assert finding["kind"] == "nonfinite" and finding["module"] == "2" and finding["details"]["origin"] == "module"
    assert data["checks"] == checks


@pytest.fixture
def recording_probe():
    @register_probe
    class Recording(Probe):
        name = "test-recording"
        kinds = ("dead-relu",)
        default = False

        def __init__(self, label: str = "none") -> None:
            super().__init__()
            self.label = label
            self.events: list[str] = []

        def attach(self, sanitizer):
            super().attach(sanitizer)
            sanitizer.register_forward_hook(sanitizer.model[0], lambda m, a, o: self.events.append("hook"))

        def on_forward_begin(self, fwd):
            self.events.append("forward_begin")

        def on_forward_end(self, fwd):
            self.events.append(f"forward_end:{len(fwd.call_module)}")

        def on_backward_end(self, window):
            self.events.append("backward_end")

        def before_optimizer_step(self, optimizer):
            self.events.append("before_step")

        def on_step_end(self, step):
            self.events.append(f"step:{step}")
            self.emit(Finding("dead-relu", "1", "forward", step, f"{self.label} fired"))

        def summary(self):
            return {"events": len(self.events)}

    yield Recording
    del _REGISTRY["test-recording"]


def test_a_probe_plugs_in_without_touching_the_core(recording_probe, toys, x):
    model = toys.mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with dlsan.instrument(
            model, optimizer=optimizer, checks=["test-recording"], options={"test-recording": {"label": "L"}}
        ) as san:
            for _ in range(2):
                model(x).sum().backward()
                optimizer.step()  # dlsan: ignore[DLS504] (step counting only)
    (probe,) = san.probes
    # three calls on the tape: the Sequential and its two Linear layers (the ReLU between them is
    # not hooked by the core: it cannot make the first bad value, see recorder.SequencePlan)
    assert probe.events == ["forward_begin", "hook", "forward_end:3", "backward_end", "before_step", "step:1"] * 1 + [
        "forward_begin", "hook", "forward_end:3", "backward_end", "before_step", "step:2",
    ]  # fmt: skip
    (finding,) = san.findings  # non-fatal findings never raise; repeats merge
    assert finding.message == "L fired" and finding.details["count"] == 2
    assert [str(w.message) for w in caught if issubclass(w.category, SanitizerWarning)] == ["dlsan: L fired"]
    assert san.to_dict()["probes"]["test-recording"] == {"events": 12}
    assert not model[0]._forward_hooks  # the probe's hook went with remove()


def test_probe_names_are_unique(recording_probe):
    with pytest.raises(ValueError, match="is taken"):

        @register_probe
        class Clash(Probe):
            name = "test-recording"
