"""Hugging Face ``transformers``: ``SanitizerCallback`` instruments the model for ``trainer.train()``.

::

    from dlsan.integrations.huggingface import SanitizerCallback
    trainer = Trainer(model, args, train_dataset=data, callbacks=[SanitizerCallback()])

Findings reach the run's logs as counts per kind (``dlsan/nonfinite``...) in every ``on_log``, and
each new one is logged once through the ``dlsan`` logger.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

try:
    from transformers import TrainerCallback
except ImportError as error:
    raise ImportError("dlsan.integrations.huggingface needs transformers: pip install transformers") from error

import torch

from dlsan.runtime import Finding, Sanitizer, instrument

logger = logging.getLogger("dlsan")


class SanitizerCallback(TrainerCallback):
    """Watch the model from ``on_train_begin`` to ``on_train_end``, with the trainer's optimizer.

    ``options`` are :func:`dlsan.instrument`'s.  With the default ``on_error="raise"`` a NaN stops
    ``train()`` with :class:`dlsan.NonFiniteError`; the Trainer has no exception event, so the
    hooks stay until :meth:`remove` or the next ``train()`` (which replaces them).  Use
    ``on_error="warn"`` or ``"record"`` to let training go on and read the findings from the logs.
    """

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.sanitizer: Sanitizer | None = None
        self._reported = 0

    @property
    def findings(self) -> list[Finding]:
        return [] if self.sanitizer is None else self.sanitizer.findings

    def remove(self) -> None:
        """Detach the hooks now (idempotent); findings stay readable."""
        if self.sanitizer is not None:
            self.sanitizer.remove()

    def on_train_begin(
        self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None, **kwargs: Any
    ) -> None:
        self.remove()
        self._reported = 0
        self.sanitizer = instrument(model, optimizer=_torch_optimizer(optimizer), **self.options)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        findings = self.findings
        for finding in findings[self._reported :]:
            logger.warning("dlsan: %s", finding.message)
        self._reported = len(findings)
        if logs is not None:
            for kind, count in Counter(finding.kind for finding in findings).items():
                logs[f"dlsan/{kind}"] = count

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.sanitizer is None or not self.sanitizer.attached:
            return
        try:
            self.sanitizer.check()
        finally:
            self.remove()
        if self.findings:
            logger.warning("dlsan findings of this run:\n%s", self.sanitizer.report())


def _torch_optimizer(optimizer: Any) -> Any:
    """The optimizer whose ``step()`` really runs: accelerate's ``AcceleratedOptimizer`` delegates
    to ``.optimizer``, and step hooks registered on the wrapper itself would never fire."""
    while isinstance(getattr(optimizer, "optimizer", None), torch.optim.Optimizer):
        optimizer = optimizer.optimizer
    return optimizer
