"""What the sanitizer reports: :class:`Finding`, and the exceptions raised in ``on_error="raise"`` mode."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: Finding kinds fixed by the design (DESIGN.md, "Runtime contract").  Probes use these strings.
KINDS = (
    "nonfinite",
    "shape",
    "dead-relu",
    "vanishing-gradient",
    "exploding-gradient",
    "unused-parameter",
    "train-mode-in-eval",
    "ambiguous-broadcast",
)


@dataclass
class Finding:
    """One problem seen while the model ran.

    ``module`` is the qualified name from ``model.named_modules()`` (``""`` for the root), ``phase``
    is ``"forward"``, ``"backward"`` or ``"step"`` (the optimizer step), ``step`` the training step
    it happened in (see :attr:`Sanitizer.step`).  ``details`` holds the machine-readable facts the
    message is built from; it is JSON-serialisable.  ``rank`` is the ``torch.distributed`` rank of
    the process that saw it (``None`` outside distributed runs), set by the sanitizer on emit.
    """

    kind: str
    module: str
    phase: str
    step: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "module": self.module,
            "phase": self.phase,
            "step": self.step,
            "message": self.message,
            "details": _jsonable(self.details),
            "rank": self.rank,
        }

    def __str__(self) -> str:
        return self.message


class SanitizerError(RuntimeError):
    """Base of the errors dlsan raises; ``.finding`` is the :class:`Finding` behind it."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding
        self.module = finding.module
        self.phase = finding.phase
        self.step = finding.step
        self.rank = finding.rank


class NonFiniteError(SanitizerError):
    """A NaN or Inf appeared; ``.module``/``.phase``/``.step`` say where it first appeared.

    ``.origin`` says what produced it: ``"module"`` (the module's own computation),
    ``"parameter"`` (its parameters were already non-finite), ``"input"`` (the model's input
    already held it), ``"loss"`` (the gradient arrived non-finite from outside the model).
    """

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding)
        self.origin: str = finding.details.get("origin", "module")


class ShapeError(SanitizerError):
    """A tensor broke a declared shape contract; ``.module`` names the module."""


class SanitizerWarning(RuntimeWarning):
    """Category of the warnings issued in ``on_error="warn"`` mode and for non-fatal findings."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
