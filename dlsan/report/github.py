"""GitHub Actions workflow commands: one ``::error`` annotation per finding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dlsan.lint.finding import LintFinding

if TYPE_CHECKING:  # rule classes import libcst, which a warm cached run never needs
    from dlsan.lint.rule import Rule


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render(findings: Sequence[LintFinding], rules: Sequence[type[Rule]]) -> str:
    lines = []
    for f in findings:
        properties = ",".join([
            f"title={_escape_property(f'dlsan ({f.code})')}",
            f"file={_escape_property(f.path)}",
            f"line={f.line}", f"col={f.column}",
            f"endLine={f.end_line}", f"endColumn={f.end_column}",
        ])
        lines.append(f"::error {properties}::{_escape_data(f'{f.code} {f.message}')}")
    return "\n".join(lines) + ("\n" if lines else "")
