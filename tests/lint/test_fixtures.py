"""The shipped fixtures: realistic scripts whose expected findings are written inline.

A comment ``# expect: DLS101`` (or ``# expect: DLS101, DLS602``) marks each line where a finding is
expected; every other line must stay quiet, for every rule.  ``fixtures/fixes/<code>_*.in.py``
must become the matching ``.out.py`` under ``--fix --unsafe-fixes`` with only that rule selected,
and fixing again must change nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixture_target import target_torch_version

from dlsan.lint.api import lint_source, with_target_torch_version
from dlsan.lint.engine import RuleSelection
from dlsan.lint.fixes import fix_source
from dlsan.lint.registry import all_rules
from dlsan.lint.selection import select_rules

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>DLS\d{3}(?:\s*,\s*DLS\d{3})*)")

LINT_FIXTURES = sorted(p for p in FIXTURES.rglob("*.py") if "fixes" not in p.relative_to(FIXTURES).parts)
FIX_FIXTURES = sorted((FIXTURES / "fixes").glob("*.in.py"))


def expected_findings(source: str) -> set[tuple[int, str]]:
    expected = set()
    for number, line in enumerate(source.splitlines(), start=1):
        match = EXPECT.search(line)
        if match:
            expected |= {(number, code.strip()) for code in match.group("codes").split(",")}
    return expected


@pytest.mark.parametrize("path", LINT_FIXTURES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_findings_match_expectations(path):
    source = path.read_text(encoding="utf-8")
    found = {(f.line, f.code) for f in lint_source(source, str(path), target_torch_version=target_torch_version(source))}
    expected = expected_findings(source)
    assert found == expected, (
        f"unexpected: {sorted(found - expected)}\nmissing: {sorted(expected - found)}"
    )


def test_fixtures_exist_and_cover_every_rule():
    assert LINT_FIXTURES, "no fixtures shipped"
    covered = set()
    for path in LINT_FIXTURES:
        covered |= {code for _, code in expected_findings(path.read_text(encoding="utf-8"))}
    missing = {rule.code for rule in all_rules()} - covered
    assert not missing, f"rules without a fixture expectation: {sorted(missing)}"


@pytest.mark.parametrize("path", FIX_FIXTURES, ids=lambda p: p.name)
def test_fix_fixture(path):
    code = path.name.split("_", 1)[0].upper()
    source = path.read_text(encoding="utf-8")
    rules = select_rules(all_rules(), [code])
    selection = RuleSelection(rules, with_target_torch_version(rules, {}, target_torch_version(source)))
    expected = path.with_name(path.name.replace(".in.py", ".out.py")).read_text(encoding="utf-8")
    fixed = fix_source(str(path), source, selection, unsafe=True)
    assert fixed.problem is None
    assert fixed.source == expected
    compile(fixed.source, str(path), "exec")
    assert fix_source(str(path), fixed.source, selection, unsafe=True).source == fixed.source
