"""A JSON array of findings with keys path, line, column, end_line, end_column, code, name,
message, fix (lines and columns 1-based; ``fix`` is null or {message, applicability, edits})."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dlsan.lint.finding import LintFinding

if TYPE_CHECKING:  # rule classes import libcst, which a warm cached run never needs
    from dlsan.lint.rule import Rule


def render(findings: Sequence[LintFinding], rules: Sequence[type[Rule]]) -> str:
    return json.dumps([f.to_dict() for f in findings], indent=2) + "\n"
