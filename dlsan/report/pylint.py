"""Pylint's parseable format, ``path:line: [CODE(name)] message``, which many editors and CI
problem matchers read.  A notebook finding gives the line of the ``.ipynb`` file and its cell and
line in the message."""

from __future__ import annotations

from collections.abc import Sequence

from dlsan.lint.finding import LintFinding
from dlsan.report.context import RenderContext
from dlsan.report.sources import cell_note


def render(findings: Sequence[LintFinding], context: RenderContext) -> str:
    return "".join(f"{f.path}:{context.sources.file_line(f)}: [{f.code}({f.name})] {cell_note(f)}{f.message}\n"
                   for f in findings)
