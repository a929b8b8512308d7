"""Helpers for test suites: ``assert_sane`` fails a test with the sanity report's table.

``import dlsan.testing`` does not import torch; the check does, when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.sanity import SanityReport
    from dlsan.runtime.split import SplitReport


def assert_sane(model: Any, batch: Any, loss_fn: Callable[..., Any], **options: Any) -> SanityReport:
    """Run :func:`dlsan.sanity_check` and raise ``AssertionError`` (a
    :class:`dlsan.CheckFailure`, whose text is the report's table) if any check failed.

    ``options`` are :func:`dlsan.sanity_check`'s keywords (``optimizer``, ``steps``, ``device``,
    ``mixes_batch``, ``skip``).  Returns the report, so a test can assert more on it.
    """
    from dlsan.runtime.sanity import sanity_check

    report = sanity_check(model, batch, loss_fn, **options)
    report.raise_on_failure()
    return report


def assert_clean_split(train: Any, test: Any, **options: Any) -> SplitReport:
    """Run :func:`dlsan.audit_split` and raise ``AssertionError`` if any check failed."""
    from dlsan.runtime.split import audit_split

    report = audit_split(train, test, **options)
    report.raise_on_failure()
    return report
