"""The README's sanity-check and split-audit examples are the scripts in docs/examples, and their
printed output is what running them prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
EXAMPLES = REPO / "docs" / "examples"


def _code(script: Path) -> str:
    text = script.read_text(encoding="utf-8")
    return text[text.index("\nimport ") + 1 :].rstrip()


def _run(script: Path) -> str:
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout.rstrip()


def _statuses(table: str) -> list[tuple[str, str]]:
    return [tuple(line.split()[:2]) for line in table.splitlines()[2:]]  # type: ignore[misc]


@pytest.mark.parametrize("name", ["sanity_check_buggy.py", "audit_split_leaky.py"])
def test_readme_shows_the_example_scripts(name: str) -> None:
    assert f"```python\n{_code(EXAMPLES / name)}\n```" in README


def test_readme_shows_what_the_split_example_prints() -> None:
    pytest.importorskip("pandas")
    assert f"```\n{_run(EXAMPLES / 'audit_split_leaky.py')}\n```" in README


@pytest.mark.slow
def test_readme_shows_what_the_sanity_example_prints() -> None:
    printed = _run(EXAMPLES / "sanity_check_buggy.py")
    start = README.index("dlsan sanity check: FAILED")
    shown = README[start : README.index("```", start)].rstrip()
    assert printed.splitlines()[0] == shown.splitlines()[0]
    assert _statuses(printed) == _statuses(shown)  # messages hold floats that vary across platforms
