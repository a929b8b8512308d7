"""Fixtures shared by the server's tests."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import dlsan.server.session as session_module
from dlsan.lint.engine import Unsuppressed
from dlsan.lint.reuse import DocumentReuse
from dlsan.lint.runner import Linter


@pytest.fixture
def lints(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the session's rules really ran on (its answers are the real findings)."""
    ran: list[str] = []
    real = session_module.lint_part

    def counted(linter: Linter, path: str, text: str, codes: Sequence[str],
                reuse: DocumentReuse | None) -> Unsuppressed:
        ran.append(text)
        return real(linter, path, text, codes, reuse)

    monkeypatch.setattr(session_module, "lint_part", counted)
    return ran
