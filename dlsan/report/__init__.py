"""Reporters: turn findings into text, JSON, SARIF 2.1.0 or GitHub annotations."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dlsan.lint.finding import LintFinding
from dlsan.report import github, json_report, sarif, text

#: (findings, rule classes) -> text; only SARIF reads the rule classes (their docs)
Renderer = Callable[[Sequence[LintFinding], Sequence[type]], str]

RENDERERS: dict[str, Renderer] = {
    "text": text.render,
    "json": json_report.render,
    "sarif": sarif.render,
    "github": github.render,
}
