"""Lightning and Hugging Face callbacks: real trainers where the packages are installed (skipped
otherwise), plus the hook logic against stand-in modules so it is tested everywhere."""

from __future__ import annotations

import importlib
import logging
import sys
import types
from typing import Any

import pytest
import torch
from torch import nn

import dlsan


class Bug(nn.Module):
    """NaN from the moment it is armed."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("nan") if self.armed else x * 1.0


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), Bug(), nn.Linear(8, 1))  # Bug is "2"


def _hooked(model: nn.Module) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def _fresh(name: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module(name)


LIGHTNING = ["lightning", "lightning.pytorch"]


# -- missing packages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "blocked", "hint"),
    [
        ("dlsan.integrations.lightning", [*LIGHTNING, "pytorch_lightning"], "pip install lightning"),
        ("dlsan.integrations.huggingface", ["transformers"], "pip install transformers"),
    ],
)
def test_a_missing_framework_gives_a_clear_import_error(
    module: str, blocked: list[str], hint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError
    with pytest.raises(ImportError, match=hint):
        _fresh(module, monkeypatch)


# -- Lightning -----------------------------------------------------------------------------------


def _lightning_callback(monkeypatch: pytest.MonkeyPatch, package: str | None) -> Any:
    """The callback class built on ``package`` (the other import name hidden), or on a stand-in."""
    if package is None:  # stand-in: only the base class the callback subclasses
        fake = types.ModuleType("lightning.pytorch")
        fake.Callback = type("Callback", (), {"__module__": fake.__name__})  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "lightning", types.ModuleType("lightning"))
        monkeypatch.setitem(sys.modules, "lightning.pytorch", fake)
    elif package == "pytorch_lightning":
        for name in LIGHTNING:
            monkeypatch.setitem(sys.modules, name, None)
    callback = _fresh("dlsan.integrations.lightning", monkeypatch).SanitizerCallback
    assert callback.__mro__[1].__module__.startswith(package or "lightning.pytorch")
    return callback


def test_lightning_hooks_against_a_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The callback's own logic, as Lightning drives it: fit start, steps, an exception."""
    callback = _lightning_callback(monkeypatch, None)(on_error="record")
    net = _net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    trainer = types.SimpleNamespace(optimizers=[optimizer], precision_plugin=object())
    callback.on_fit_start(trainer, net)
    assert _hooked(net) and callback.sanitizer.optimizer is optimizer
    net(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    net[2].armed = True
    net(torch.randn(2, 4))
    callback.on_exception(trainer, net, RuntimeError("boom"))
    assert not _hooked(net)
    assert callback.sanitizer.step == 1 and [f.module for f in callback.findings] == ["2"]
    callback.teardown(trainer, net, "fit")  # idempotent


def _lightning_module(pl: types.ModuleType) -> Any:
    class Lit(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = _net()

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            self.net[2].armed = self.bug_at is not None and self.global_step >= self.bug_at
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    return Lit


@pytest.fixture(params=["lightning.pytorch", "pytorch_lightning"])
def pl(request: pytest.FixtureRequest) -> types.ModuleType:
    """Either import name; the callback is then built on that package's ``Callback``."""
    return pytest.importorskip(request.param)


def _fit(pl: types.ModuleType, callback: Any, bug_at: int | None) -> Any:
    model = _lightning_module(pl)()
    model.bug_at = bug_at
    data = torch.utils.data.TensorDataset(torch.randn(16, 4), torch.randn(16, 1))
    trainer = pl.Trainer(
        max_steps=4,
        callbacks=[callback],
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    try:
        trainer.fit(model, torch.utils.data.DataLoader(data, batch_size=4))
    finally:
        assert not _hooked(model), "hooks left on the model after the fit"
    return model


def test_lightning_fit_is_watched_with_the_trainers_optimizer(
    pl: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    callback = _lightning_callback(monkeypatch, pl.__name__)()
    _fit(pl, callback, bug_at=None)
    assert callback.sanitizer.step == 4 and callback.findings == []  # steps counted on its optimizer


def test_lightning_nan_stops_the_fit_naming_the_layer(pl: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    callback = _lightning_callback(monkeypatch, pl.__name__)()
    with pytest.raises(dlsan.NonFiniteError) as error:
        _fit(pl, callback, bug_at=2)
    assert (error.value.module, error.value.phase, error.value.step) == ("net.2", "forward", 2)


def _evaluating_module(pl: types.ModuleType) -> Any:
    class Lit(_lightning_module(pl)):  # type: ignore[misc]
        def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            # Lightning puts the module in eval mode around its evaluation loops
            return nn.functional.mse_loss(self.net(batch[0]), batch[1])

        test_step = validation_step

        def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self.net(batch[0])  # Lightning calls eval() first

    return Lit


@pytest.mark.parametrize("loop", ["validate", "test", "predict"])
def test_lightning_evaluation_loops_on_their_own_are_watched(
    pl: types.ModuleType, monkeypatch: pytest.MonkeyPatch, loop: str
) -> None:
    callback = _lightning_callback(monkeypatch, pl.__name__)()
    model = _evaluating_module(pl)()
    model.bug_at = None
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randn(8, 1)), batch_size=4)
    trainer = pl.Trainer(
        callbacks=[callback], accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    getattr(trainer, loop)(model, data)
    assert callback.findings == [] and not _hooked(model)
    model.net[2].armed = True
    with pytest.raises(dlsan.NonFiniteError) as error:
        getattr(trainer, loop)(model, data)
    assert (error.value.module, error.value.phase) == ("net.2", "forward")
    assert not _hooked(model)


def test_lightning_validation_inside_a_fit_keeps_the_fits_sanitizer(monkeypatch: pytest.MonkeyPatch) -> None:
    callback = _lightning_callback(monkeypatch, None)(on_error="record")
    net = _net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    fitting = types.SimpleNamespace(value="fit")
    trainer = types.SimpleNamespace(optimizers=[optimizer], precision_plugin=object(), state=types.SimpleNamespace(fn=fitting))
    callback.on_fit_start(trainer, net)
    fit_sanitizer = callback.sanitizer
    callback.on_validation_start(trainer, net)
    callback.on_validation_end(trainer, net)
    assert callback.sanitizer is fit_sanitizer and fit_sanitizer.attached
    callback.on_fit_end(trainer, net)
    assert not _hooked(net)


def test_lightning_options_are_checked_when_the_callback_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    callback = _lightning_callback(monkeypatch, None)
    with pytest.raises(ValueError, match="unknown dlsan.instrument option.*'on_eror'.*did you mean 'on_error'"):
        callback(on_eror="warn")


# -- Hugging Face --------------------------------------------------------------------------------


def _hf_callback(monkeypatch: pytest.MonkeyPatch, real: bool) -> Any:
    if not real:
        fake = types.ModuleType("transformers")
        fake.TrainerCallback = type("TrainerCallback", (), {})  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "transformers", fake)
    return _fresh("dlsan.integrations.huggingface", monkeypatch).SanitizerCallback


class _Wrapped(torch.optim.Optimizer):
    """Like accelerate's AcceleratedOptimizer: ``step`` delegates to ``.optimizer``."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer

    def step(self, closure: Any = None) -> None:
        self.optimizer.step()


def test_huggingface_hooks_against_a_stand_in(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    callback = _hf_callback(monkeypatch, real=False)(on_error="record")
    net = _net()
    inner = torch.optim.SGD(net.parameters(), lr=0.1)
    optimizer = _Wrapped(inner)
    callback.on_train_begin(None, None, None, model=net, optimizer=optimizer)
    assert callback.sanitizer.optimizer is inner  # hooks on the wrapper would never fire
    net(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    net[2].armed = True
    net(torch.randn(2, 4))
    logs: dict[str, Any] = {"loss": 1.0}
    with caplog.at_level(logging.WARNING, logger="dlsan"):
        callback.on_log(None, None, None, logs=logs)
        callback.on_log(None, None, None, logs={})
        callback.on_train_end(None, None, None)
    assert logs["dlsan/nonfinite"] == 1
    assert sum("module '2' (Bug)" in r.getMessage() for r in caplog.records) == 2  # once new, once in the report
    assert callback.sanitizer.step == 1 and not _hooked(net)


class _HFModel(nn.Module):
    """Called as the Hugging Face Trainer calls models; from training call ``bug_at`` on it makes NaN."""

    def __init__(self, bug_at: int | None = None) -> None:
        super().__init__()
        self.net = _net()
        self.calls = 0
        self.bug_at = bug_at

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.bug_at is not None:
            self.net[2].armed = self.calls >= self.bug_at
        self.calls += self.training
        out = self.net(x)
        return {"loss": nn.functional.mse_loss(out, labels), "logits": out}


def _hf_train(callback: Any, bug_at: int | None, tmp_path: Any) -> tuple[nn.Module, list[dict[str, Any]]]:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")

    seen: list[dict[str, Any]] = []

    class Spy(transformers.TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            seen.append(dict(logs))

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=4,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    data = [{"x": torch.randn(4), "labels": torch.randn(1)} for _ in range(16)]
    model = _HFModel(bug_at)
    transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=[callback, Spy()]).train()
    return model, seen


def test_huggingface_train_is_watched_and_findings_reach_the_logs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("transformers")
    callback = _hf_callback(monkeypatch, real=True)(on_error="record")
    with caplog.at_level(logging.WARNING, logger="dlsan"):
        model, seen = _hf_train(callback, bug_at=2, tmp_path=tmp_path)
    first = callback.findings[0]
    # step 2: steps are counted on the trainer's (unwrapped) optimizer
    assert (first.kind, first.module, first.phase, first.step) == ("nonfinite", "net.2", "forward", 2)
    assert any(logs.get("dlsan/nonfinite") for logs in seen)
    new = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dlsan: ")]
    assert len(new) == len(callback.findings)  # each once, not once per log call
    assert _hooked(model)  # still watched, for evaluate() / predict()
    callback.remove()
    assert not _hooked(model)


def _hf_trainer(callback: Any, tmp_path: Any) -> Any:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_eval_batch_size=4, report_to=[], use_cpu=True, disable_tqdm=True,
        remove_unused_columns=False, dataloader_num_workers=0, save_strategy="no",
    )  # fmt: skip
    data = [{"x": torch.randn(4), "labels": torch.randn(1)} for _ in range(8)]
    return transformers.Trainer(model=_HFModel(), args=args, eval_dataset=data, callbacks=[callback]), data


@pytest.mark.parametrize("loop", ["evaluate", "predict"])
def test_huggingface_evaluate_and_predict_are_watched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, loop: str
) -> None:
    pytest.importorskip("transformers")
    callback = _hf_callback(monkeypatch, real=True)()
    trainer, data = _hf_trainer(callback, tmp_path)
    run = trainer.evaluate if loop == "evaluate" else lambda: trainer.predict(data)
    run()
    assert callback.findings == []
    trainer.model.net[2].armed = True
    with pytest.raises(dlsan.NonFiniteError, match="net.2"):
        run()
    callback.remove()


def test_huggingface_warn_mode_reports_each_finding_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("transformers")
    callback = _hf_callback(monkeypatch, real=True)(on_error="warn")
    trainer, _ = _hf_trainer(callback, tmp_path)
    trainer.model.net[2].armed = True
    with caplog.at_level(logging.WARNING, logger="dlsan"), pytest.warns(dlsan.SanitizerWarning) as caught:
        trainer.evaluate()
        trainer.evaluate()
    dlsan_warnings = [w for w in caught if issubclass(w.category, dlsan.SanitizerWarning)]
    assert len(dlsan_warnings) == 1 and "net.2" in str(dlsan_warnings[0].message)
    assert not [r for r in caplog.records if "net.2" in r.getMessage()]
    callback.remove()


def test_huggingface_clean_run_and_raise_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    pytest.importorskip("transformers")
    callback = _hf_callback(monkeypatch, real=True)()
    model, seen = _hf_train(callback, bug_at=None, tmp_path=tmp_path)
    assert callback.findings == [] and not any("dlsan/nonfinite" in logs for logs in seen)
    with pytest.raises(dlsan.NonFiniteError, match="net.2"):
        _hf_train(callback, bug_at=1, tmp_path=tmp_path)
    callback.remove()
    assert not callback.sanitizer.attached
