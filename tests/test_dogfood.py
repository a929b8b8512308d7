"""dlsan's own code passes dlsan (with the repository's [tool.dlsan] config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlsan.lint.api import lint_paths

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # a cold lint of the whole repository: the default Python's run says it for all
def test_dlsan_checks_clean_on_its_own_code():
    result = lint_paths([REPO], jobs=1)
    assert len(result.files) > 50
    assert [f"{f.path}:{f.line}: {f.code}" for f in result.findings] == []
