"""Reporters: turn findings into text for people (full, concise) or for tools (JSON, JSON lines,
SARIF 2.1.0, GitHub annotations, GitLab Code Quality, JUnit XML, pylint's parseable lines)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dlsan.lint.finding import LintFinding
from dlsan.report import github, gitlab, json_report, junit, pylint, sarif, text
from dlsan.report.context import RenderContext

Renderer = Callable[[Sequence[LintFinding], RenderContext], str]

RENDERERS: dict[str, Renderer] = {
    "full": text.render_full,
    "concise": text.render_concise,
    "json": json_report.render,
    "json-lines": json_report.render_lines,
    "sarif": sarif.render,
    "github": github.render,
    "gitlab": gitlab.render,
    "junit": junit.render,
    "pylint": pylint.render,
}
#: formats that describe the rules themselves, so they need the rule classes (and libcst)
NEEDS_RULES = frozenset({"sarif"})
#: formats for people: the run's summary goes to stderr after them
HUMAN = frozenset({"full", "concise"})

__all__ = ["HUMAN", "NEEDS_RULES", "RENDERERS", "RenderContext", "Renderer"]
