from __future__ import annotations

from pathlib import Path

from dlsan.lint.docs import PAGES_DIR, rule_page, rules_table, with_table
from dlsan.lint.registry import all_rules

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_rule_table_is_up_to_date():
    readme = README.read_text(encoding="utf-8")
    assert with_table(readme, all_rules()) == readme, "regenerate with: python -m dlsan.lint.docs README.md"


def test_table_lists_every_rule_once():
    table = rules_table(all_rules())
    for rule in all_rules():
        assert table.count(f"| {rule.code} |") == 1


def test_every_rule_has_its_current_page():
    """The page SARIF's helpUri and the language server link to."""
    for rule in all_rules():
        page = README.parent / PAGES_DIR / f"{rule.code}.md"
        assert page.is_file() and page.read_text(encoding="utf-8") == rule_page(rule), \
            "regenerate with: python -m dlsan.lint.docs README.md"
