"""The report shared by :func:`dlsan.sanity_check` and :func:`dlsan.audit_split`.

Both run a fixed list of named checks; each ends ``pass``, ``fail`` or ``skip`` with a message that
says what was measured against what, and ``details`` that programs can read.  A report passes when
no check failed (a skipped check is not a failure: it says why it could not run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dlsan.runtime.findings import _jsonable

STATUSES = ("pass", "fail", "skip")


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: ``name`` (kebab-case), ``status`` (``pass``/``fail``/``skip``),
    ``message`` (what was measured against what) and JSON-serialisable ``details``."""

    name: str
    status: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "message": self.message, "details": _jsonable(dict(self.details))}


def passed(name: str, message: str, **details: Any) -> CheckResult:
    return CheckResult(name, "pass", message, details)


def failed(name: str, message: str, **details: Any) -> CheckResult:
    return CheckResult(name, "fail", message, details)


def skipped(name: str, message: str, **details: Any) -> CheckResult:
    return CheckResult(name, "skip", message, details)


def counted(count: int, noun: str) -> str:
    """``1 example``, ``3 examples``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def some(items: Sequence[object], limit: int = 5) -> str:
    """The first ``limit`` items for a message: ``a, b, c and 4 more``."""
    text = ", ".join(map(str, items[:limit]))
    return text if len(items) <= limit else f"{text} and {len(items) - limit} more"


class CheckFailure(AssertionError):
    """Raised by :meth:`CheckReport.raise_on_failure`; ``.report`` is the report, the text its table.

    An ``AssertionError``, so that pytest shows it as a failed assertion with the whole table."""

    def __init__(self, report: CheckReport) -> None:
        super().__init__(f"{report.title}: {', '.join(c.name for c in report.failures)} failed\n{report}")
        self.report = report


class CheckReport:
    """Results of a run of checks, in the order they ran."""

    title = "checks"

    def __init__(self, checks: Sequence[CheckResult]) -> None:
        self.checks: list[CheckResult] = list(checks)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if check.failed]

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check named {name!r}; checks: {', '.join(c.name for c in self.checks)}")

    def raise_on_failure(self) -> None:
        """Raise :class:`CheckFailure` (an ``AssertionError``) if any check failed."""
        if not self.passed:
            raise CheckFailure(self)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [check.to_dict() for check in self.checks]}

    def __str__(self) -> str:
        width = max([len("check"), *(len(check.name) for check in self.checks)])
        verdict = "passed" if self.passed else f"FAILED ({len(self.failures)} of {len(self.checks)} checks)"
        lines = [f"{self.title}: {verdict}", f"{'check':<{width}}  status  message"]
        indent = " " * (width + 10)  # continuation lines of a message stay in the message column
        for check in self.checks:
            message = check.message.replace("\n", "\n" + indent)
            lines.append(f"{check.name:<{width}}  {check.status:<6}  {message}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        statuses = ", ".join(f"{check.name}={check.status}" for check in self.checks)
        return f"{type(self).__name__}({statuses})"

