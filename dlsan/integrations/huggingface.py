"""Hugging Face ``transformers``: ``SanitizerCallback`` instruments the model for ``trainer.train()``,
``evaluate()`` and ``predict()``.

::

    from dlsan.integrations.huggingface import SanitizerCallback
    trainer = Trainer(model, args, train_dataset=data, callbacks=[SanitizerCallback()])

Findings reach the run's logs as counts per kind (``dlsan/nonfinite``...) in every ``on_log``, and
each is reported once: a warning in ``warn`` mode, a ``dlsan`` logger record in ``record`` mode.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

try:
    from transformers import TrainerCallback  # type: ignore[import-not-found, unused-ignore]
except ImportError as error:
    raise ImportError("dlsan.integrations.huggingface needs transformers: pip install transformers") from error

import torch

from dlsan.runtime import Finding, Sanitizer, instrument
from dlsan.runtime.api import check_options

logger = logging.getLogger("dlsan")


class SanitizerCallback(TrainerCallback):  # type: ignore[misc, unused-ignore]  # untyped without transformers
    """Watch the model from the moment the ``Trainer`` is built: ``train()`` with the trainer's
    optimizer, and ``evaluate()`` / ``predict()`` (the Trainer has no event before an evaluation
    starts, so the model stays watched between them; :meth:`remove` detaches).

    ``options`` are :func:`dlsan.instrument`'s, checked here.  With the default ``on_error="raise"``
    a NaN stops ``train()`` or ``evaluate()`` with :class:`dlsan.NonFiniteError`.  With
    ``on_error="warn"`` each finding is reported once, as a :class:`dlsan.SanitizerWarning`; with
    ``"record"`` once through the ``dlsan`` logger.  Either way the run's logs get counts per kind.
    """

    def __init__(self, **options: Any) -> None:
        check_options(options)
        self.options = options
        self.sanitizer: Sanitizer | None = None
        self._earlier: list[Finding] = []  # findings of sanitizers replaced since (train begin/end)
        self._reported = 0

    @property
    def findings(self) -> list[Finding]:
        """Every finding since the trainer was built (train, evaluate and predict)."""
        return self._earlier + ([] if self.sanitizer is None else self.sanitizer.findings)

    def remove(self) -> None:
        """Detach the hooks now (idempotent); findings stay readable."""
        if self.sanitizer is not None:
            self.sanitizer.remove()

    def on_init_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if model is not None:
            self._watch(model, None)

    def on_train_begin(
        self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None, **kwargs: Any
    ) -> None:
        self._watch(model, _torch_optimizer(optimizer))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._log_new()
        if logs is not None:
            for kind, count in Counter(finding.kind for finding in self.findings).items():
                logs[f"dlsan/{kind}"] = count

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._check()

    def on_predict(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
        self._check()

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if self.sanitizer is None or not self.sanitizer.attached:
            return
        sanitizer = self.sanitizer
        try:
            self._check()
        finally:
            sanitizer.remove()
        if sanitizer.findings:
            logger.warning("dlsan findings of this run:\n%s", sanitizer.report())
        if model is not None:
            self._watch(model, None)  # evaluate() / predict() after training

    def _watch(self, model: Any, optimizer: Any) -> None:
        if self.sanitizer is not None:
            self.sanitizer.remove()
            self._earlier.extend(self.sanitizer.findings)
        self.sanitizer = instrument(model, optimizer=optimizer, **self.options)

    def _check(self) -> None:
        """Apply ``on_error`` to what ``every`` kept for later, and log what is new."""
        if self.sanitizer is not None and self.sanitizer.attached:
            self.sanitizer.check()
        self._log_new()

    def _log_new(self) -> None:
        findings = self.findings
        if self.options.get("on_error", "raise") == "record":  # the other modes warned already
            for finding in findings[self._reported :]:
                logger.warning("dlsan: %s", finding.message)
        self._reported = len(findings)


def _torch_optimizer(optimizer: Any) -> Any:
    """The optimizer whose ``step()`` really runs: accelerate's ``AcceleratedOptimizer`` delegates
    to ``.optimizer``, and step hooks registered on the wrapper itself would never fire."""
    while isinstance(getattr(optimizer, "optimizer", None), torch.optim.Optimizer):
        optimizer = optimizer.optimizer
    return optimizer
