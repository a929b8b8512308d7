"""Where a rule's documentation lives on the web (one address for SARIF, the language server and
the text output alike)."""

from __future__ import annotations

HOMEPAGE = "https://github.com/dlsan/dlsan"
_RULE_DOCS = f"{HOMEPAGE}/blob/main/docs/rules/{{code}}.md"


def rule_url(code: str) -> str:
    """The page documenting rule ``code`` (``docs/rules/CODE.md``, generated from the rule's
    docstring by ``python -m dlsan.lint.docs``)."""
    return _RULE_DOCS.format(code=code)
