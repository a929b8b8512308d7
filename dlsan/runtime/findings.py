"""What the sanitizer reports: :class:`Finding`, and the exceptions raised in ``on_error="raise"`` mode.

Plain data, no torch: the reporters and ``dlsan run`` read findings as they read lint findings
(:meth:`Finding.to_lint_finding`), with the kind's ``DLS8xx`` code from :mod:`dlsan.runtime.codes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dlsan.lint.finding import LintFinding
from dlsan.runtime.codes import code_for

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
    "graph-leak",
    "init-scale",
)

#: the path of a finding whose source location is unknown, in the lint formats
UNKNOWN_PATH = "<unknown>"


@dataclass
class Finding:
    """One problem seen while the model ran.

    ``module`` is the qualified name from ``model.named_modules()`` (``""`` for the root), ``phase``
    is ``"forward"``, ``"backward"`` or ``"step"`` (the optimizer step), ``step`` the training step
    it happened in (see :attr:`Sanitizer.step`).  ``details`` holds the machine-readable facts the
    message is built from; it is JSON-serialisable.  ``rank`` is the ``torch.distributed`` rank of
    the process that saw it (``None`` outside distributed runs), set by the sanitizer on emit.
    ``path`` and ``line`` are its source location: the failing op's line when a replay found it,
    else the ``forward`` of the nearest user-defined module class, else the user code that called
    the model (set by the sanitizer on emit; ``None`` when unknown).
    """

    kind: str
    module: str
    phase: str
    step: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    rank: int | None = None
    path: str | None = None
    line: int | None = None
    #: an exception whose traceback ends at the user's line that failed (set by a replay); raised
    #: errors chain it as their ``__cause__``.  Not part of ``to_dict()``
    cause: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def code(self) -> str:
        """The kind's stable code (``DLS8xx``; see ``dlsan explain``)."""
        return code_for(self.kind).code

    def to_lint_finding(self) -> LintFinding:
        """This finding as the reporters read it (``path:line: DLS8xx message``)."""
        line = self.line or 1
        return LintFinding(self.path or UNKNOWN_PATH, line, 1, line, 1, self.code, self.kind, self.message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind,
            "module": self.module,
            "phase": self.phase,
            "step": self.step,
            "message": self.message,
            "details": _jsonable(self.details),
            "rank": self.rank,
            "path": self.path,
            "line": self.line,
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
