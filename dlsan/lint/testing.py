"""Checks a rule's embedded examples; used by dlsan's test suite and available to project rules.

    import pytest
    from dlsan.lint.testing import example_cases, check_example

    @pytest.mark.parametrize("rule, example", example_cases(my_rules), ids=str)
    def test_examples(rule, example):
        check_example(rule, example)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dlsan.lint.engine import RuleSelection, lint_source
from dlsan.lint.finding import PARSE_ERROR_CODE
from dlsan.lint.fixes import fix_source
from dlsan.lint.rule import Invalid, Rule, Valid


@dataclass(frozen=True)
class ExampleCase:
    rule: type[Rule]
    example: Valid | Invalid
    index: int

    def __str__(self) -> str:
        kind = "invalid" if isinstance(self.example, Invalid) else "valid"
        return f"{self.rule.code}-{kind}-{self.index}"


def example_cases(rules: Iterable[type[Rule]]) -> list[ExampleCase]:
    cases: list[ExampleCase] = []
    for rule in rules:
        cases += [ExampleCase(rule, example, i) for i, example in enumerate(rule.VALID)]
        cases += [ExampleCase(rule, example, i) for i, example in enumerate(rule.INVALID)]
    return cases


def check_example(case: ExampleCase) -> None:
    """Raise AssertionError when the rule disagrees with its example."""
    rule, example = case.rule, case.example
    selection = RuleSelection([rule], {rule.code: dict(example.options)} if example.options else {})
    findings = lint_source(f"{case}.py", example.source, selection)
    broken = [f for f in findings if f.code == PARSE_ERROR_CODE]
    assert not broken, f"{case}: example does not parse or the rule crashed: {broken[0].message}"
    ours = [f for f in findings if f.code == rule.code]
    if isinstance(example, Valid):
        assert not ours, f"{case}: expected no finding, got line(s) {[f.line for f in ours]}\n{example.source}"
        return
    assert ours, f"{case}: expected a finding, got none\n{example.source}"
    if example.line is not None:
        lines = [f.line for f in ours]
        assert example.line in lines, f"{case}: expected a finding on line {example.line}, got {lines}"
    expected = example.fixed_source
    if expected is not None:
        fixed = fix_source(f"{case}.py", example.source, selection, unsafe=True)
        assert fixed.problem is None, f"{case}: {fixed.problem}"
        assert fixed.source == expected, f"{case}: fix gave\n{fixed.source}\nexpected\n{expected}"
        again = fix_source(f"{case}.py", fixed.source, selection, unsafe=True)
        assert again.source == fixed.source, f"{case}: fix is not idempotent"
