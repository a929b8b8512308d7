"""GitHub Actions workflow commands: one ``::error`` annotation per finding.

A notebook finding is annotated on the line of the ``.ipynb`` file that stores its cell line (the
line GitHub shows in a diff), with the cell and line in the message."""

from __future__ import annotations

from collections.abc import Sequence

from dlsan.lint.finding import LintFinding
from dlsan.report.context import RenderContext
from dlsan.report.sources import cell_note


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _position(finding: LintFinding, context: RenderContext) -> list[str]:
    if finding.cell is not None:
        return [f"line={context.sources.file_line(finding)}"]
    return [f"line={finding.line}", f"col={finding.column}", f"endLine={finding.end_line}",
            f"endColumn={finding.end_column}"]


def render(findings: Sequence[LintFinding], context: RenderContext) -> str:
    lines = []
    for f in findings:
        properties = ",".join([
            f"title={_escape_property(f'dlsan ({f.code})')}",
            f"file={_escape_property(f.path)}",
            *_position(f, context),
        ])
        lines.append(f"::error {properties}::{_escape_data(f'{cell_note(f)}{f.code} {f.message}')}")
    return "".join(line + "\n" for line in lines)
