"""One test per embedded VALID/INVALID example of every rule, plus the rules' own metadata."""

from __future__ import annotations

import pytest

from dlsan.lint.registry import all_rules
from dlsan.lint.rule import DOC_SECTIONS
from dlsan.lint.testing import check_example, example_cases

RULES = all_rules()


@pytest.mark.parametrize("case", example_cases(RULES), ids=str)
def test_example(case):
    check_example(case)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.code)
def test_rule_is_documented(rule):
    assert rule.problems() == []
    sections = rule.doc_sections()
    assert list(sections)[: len(DOC_SECTIONS)] == list(DOC_SECTIONS)
    assert rule.summary().endswith(".")


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.code)
def test_rule_has_enough_examples(rule):
    assert len(rule.VALID) >= 8 and len(rule.INVALID) >= 8


def test_codes_and_names_are_unique():
    codes = [rule.code for rule in RULES]
    names = [rule.name for rule in RULES]
    assert len(set(codes)) == len(codes) and len(set(names)) == len(names)


def test_fixable_rules_say_how_safe():
    for rule in RULES:
        if rule.fixable():
            assert "Fix safety" in rule.doc_sections(), rule.code
