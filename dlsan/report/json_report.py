"""JSON: an array of findings with keys path, line, column, end_line, end_column, code, name,
message, fix (lines and columns 1-based; ``fix`` is null or {message, applicability, edits};
notebook findings add ``cell`` after ``path``, and their lines, fix edits' too, are the cell's).
``json-lines`` writes one such object per line."""

from __future__ import annotations

import json
from collections.abc import Sequence

from dlsan.lint.finding import LintFinding
from dlsan.report.context import RenderContext


def render(findings: Sequence[LintFinding], context: RenderContext) -> str:
    return json.dumps([f.to_dict() for f in findings], indent=2) + "\n"


def render_lines(findings: Sequence[LintFinding], context: RenderContext) -> str:
    return "".join(json.dumps(f.to_dict()) + "\n" for f in findings)
