"""dlsan: catches the silent bugs of deep-learning code.

Two halves share one vocabulary of findings:

* the linter (``dlsan check``; :func:`lint_source`, :func:`lint_paths`) reads source with libcst and
  never imports torch;
* the runtime sanitizer (:func:`instrument`) wraps a PyTorch model.  Its names are resolved lazily
  on first access so that ``import dlsan`` stays free of torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlsan.__about__ import __version__
from dlsan.lazy import lazy_getattr

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from dlsan.lint.api import LintResult, lint_paths, lint_source
    from dlsan.lint.finding import LintFinding
    from dlsan.lint.rule import Invalid, Rule, Valid
    from dlsan.runtime import (
        Finding,
        NonFiniteError,
        Sanitizer,
        SanitizerError,
        SanitizerWarning,
        ShapeError,
        instrument,
    )
    from dlsan.runtime.checkreport import CheckFailure as CheckFailure
    from dlsan.runtime.checkreport import CheckResult as CheckResult
    from dlsan.runtime.sanity import SanityReport as SanityReport
    from dlsan.runtime.sanity import sanity_check as sanity_check
    from dlsan.runtime.split import SplitReport as SplitReport
    from dlsan.runtime.split import audit_split as audit_split

_LAZY = {
    "lint_source": "dlsan.lint.api",
    "lint_paths": "dlsan.lint.api",
    "LintResult": "dlsan.lint.api",
    "LintFinding": "dlsan.lint.finding",
    "Rule": "dlsan.lint.rule",
    "Valid": "dlsan.lint.rule",
    "Invalid": "dlsan.lint.rule",
    "instrument": "dlsan.runtime",
    "Sanitizer": "dlsan.runtime",
    "Finding": "dlsan.runtime",
    "NonFiniteError": "dlsan.runtime",
    "ShapeError": "dlsan.runtime",
    "sanity_check": "dlsan.runtime.sanity",
    "SanityReport": "dlsan.runtime.sanity",
    "audit_split": "dlsan.runtime.split",
    "SplitReport": "dlsan.runtime.split",
    "CheckResult": "dlsan.runtime.checkreport",
    "CheckFailure": "dlsan.runtime.checkreport",
    "SanitizerError": "dlsan.runtime",
    "SanitizerWarning": "dlsan.runtime",
}

__all__ = ["__version__", *_LAZY]


__getattr__ = lazy_getattr("dlsan", globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
