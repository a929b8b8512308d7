"""Lightning: ``SanitizerCallback`` instruments the ``LightningModule`` for ``trainer.fit()``.

::

    from dlsan.integrations.lightning import SanitizerCallback
    trainer = Trainer(callbacks=[SanitizerCallback(on_error="raise")])

Works with the ``lightning`` package (``lightning.pytorch``) and with the standalone
``pytorch_lightning`` one; the callback subclasses whichever is installed (``lightning`` first).
"""

from __future__ import annotations

from typing import Any

try:
    from lightning.pytorch import Callback
except ImportError:
    try:
        from pytorch_lightning import Callback
    except ImportError as error:
        raise ImportError(
            "dlsan.integrations.lightning needs Lightning: pip install lightning (or pytorch-lightning)"
        ) from error

from dlsan.runtime import Finding, Sanitizer, instrument


class SanitizerCallback(Callback):
    """Watch the model for the whole fit, with the trainer's optimizer and loss scaler.

    ``options`` are :func:`dlsan.instrument`'s (``on_error``, ``checks``, ``every``, ``shapes``...).
    The hooks go on at ``on_fit_start`` (the optimizers exist by then) and come off at the end of
    the fit, also when it fails (``on_exception``, ``teardown``).  With one optimizer, steps are
    its ``step()`` calls; with several (GANs, manual optimisation) they are backward passes.
    ``findings`` and ``sanitizer.report()`` stay available after the fit.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options
        self.sanitizer: Sanitizer | None = None

    @property
    def findings(self) -> list[Finding]:
        return [] if self.sanitizer is None else self.sanitizer.findings

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._detach()  # a previous fit that never reached its end
        optimizers = list(trainer.optimizers)
        self.sanitizer = instrument(
            pl_module,
            optimizer=optimizers[0] if len(optimizers) == 1 else None,
            scaler=getattr(trainer.precision_plugin, "scaler", None),  # AMP: skipped steps are no error
            **self.options,
        )

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.sanitizer is not None and self.sanitizer.attached:
            try:
                self.sanitizer.check()  # whatever ``every`` kept for later, under on_error
            finally:
                self._detach()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._detach()

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._detach()

    def _detach(self) -> None:
        if self.sanitizer is not None:
            self.sanitizer.remove()
