"""Lightning: ``SanitizerCallback`` instruments the ``LightningModule`` for ``trainer.fit()``,
``validate()``, ``test()`` and ``predict()``.

::

    from dlsan.integrations.lightning import SanitizerCallback
    trainer = Trainer(callbacks=[SanitizerCallback(on_error="raise")])

Works with the ``lightning`` package (``lightning.pytorch``) and with the standalone
``pytorch_lightning`` one; the callback subclasses whichever is installed (``lightning`` first).
"""

from __future__ import annotations

from typing import Any

try:
    from lightning.pytorch import Callback  # type: ignore[import-not-found, unused-ignore]
except ImportError:
    try:
        from pytorch_lightning import Callback  # type: ignore[import-not-found, assignment, unused-ignore]
    except ImportError as error:
        raise ImportError(
            "dlsan.integrations.lightning needs Lightning: pip install lightning (or pytorch-lightning)"
        ) from error

from dlsan.runtime import Finding, Sanitizer, instrument
from dlsan.runtime.api import check_options


class SanitizerCallback(Callback):  # type: ignore[misc, unused-ignore]  # untyped without Lightning
    """Watch the model for the whole fit, with the trainer's optimizer and loss scaler, and for
    ``trainer.validate()``, ``test()`` and ``predict()`` run on their own.

    ``options`` are :func:`dlsan.instrument`'s (``on_error``, ``checks``, ``every``, ``shapes``...),
    checked here, so a misspelt one fails at once rather than when the fit starts.  The hooks go on
    at ``on_fit_start`` (the optimizers exist by then) or at the start of an evaluation loop run
    outside a fit, and come off at the end of that run, also when it fails (``on_exception``,
    ``teardown``).  The validation loops inside a fit are watched by the fit's sanitizer.  With one
    optimizer, steps are its ``step()`` calls; with several (GANs, manual optimisation) they are
    backward passes.  ``findings`` and ``sanitizer.report()`` stay available afterwards (those of
    the last run).
    """

    def __init__(self, **options: Any) -> None:
        super().__init__()
        check_options(options)
        self.options = options
        self.sanitizer: Sanitizer | None = None

    @property
    def findings(self) -> list[Finding]:
        return [] if self.sanitizer is None else self.sanitizer.findings

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._detach()  # a previous run that never reached its end
        optimizers = list(trainer.optimizers)
        self.sanitizer = instrument(
            pl_module,
            optimizer=optimizers[0] if len(optimizers) == 1 else None,
            scaler=getattr(trainer.precision_plugin, "scaler", None),  # AMP: skipped steps are no error
            **self.options,
        )

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._finish()

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._start_loop(pl_module)

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self._start_loop(pl_module)

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self._start_loop(pl_module)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        self._end_loop(trainer)

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        self._end_loop(trainer)

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self._end_loop(trainer)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._detach()

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._detach()

    def _start_loop(self, pl_module: Any) -> None:
        """An evaluation loop starts: inside a fit it is already watched; on its own it gets a
        sanitizer without optimizer (steps are then forward passes' business: none)."""
        if self.sanitizer is None or not self.sanitizer.attached:
            self.sanitizer = instrument(pl_module, **self.options)

    def _end_loop(self, trainer: Any) -> None:
        if not _fitting(trainer):
            self._finish()

    def _finish(self) -> None:
        if self.sanitizer is not None and self.sanitizer.attached:
            try:
                self.sanitizer.check()  # whatever ``every`` kept for later, under on_error
            finally:
                self._detach()

    def _detach(self) -> None:
        if self.sanitizer is not None:
            self.sanitizer.remove()


def _fitting(trainer: Any) -> bool:
    """Whether ``trainer`` runs ``fit()`` (whose validation loops end before the fit does)."""
    fn = getattr(getattr(trainer, "state", None), "fn", None)
    return str(getattr(fn, "value", fn)) == "fit"
