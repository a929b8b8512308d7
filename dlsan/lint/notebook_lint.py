"""Lint and fix a notebook through its virtual module (see :mod:`dlsan.lint.notebooks`).

Fixes are found on the virtual module and applied to the cells' own text, round after round as
for a ``.py`` file; a round whose cells no longer parse together is thrown away.
"""

from __future__ import annotations

from collections.abc import Sequence

from dlsan.lint.engine import RuleSelection, checked_parse, lint_module, lint_source, syntax_error
from dlsan.lint.finding import LintFinding
from dlsan.lint.fixes import MAX_ROUNDS, apply_edits
from dlsan.lint.notebooks import Notebook, VirtualModule, cell_edits, code_sources, read_notebook
from dlsan.lint.runner import FileResult


def lint_cells(path: str, cells: Sequence[tuple[int, str]], selection: RuleSelection) -> list[LintFinding]:
    """Findings for code cells given as (position in the notebook, source), located by cell."""
    module = VirtualModule.build(cells)
    return [module.locate(finding) for finding in lint_source(path, module.source, selection)]


def lint_notebook(path: str, notebook: Notebook, selection: RuleSelection) -> list[LintFinding]:
    """Findings located by cell; none for a notebook of another language."""
    if not notebook.is_python():
        return []
    return lint_cells(path, code_sources(notebook), selection)


def notebook_result(path: str, data: bytes, selection: RuleSelection, *, fix: bool, unsafe: bool) -> FileResult:
    """A notebook file's findings and, with ``fix``, its fixed JSON text."""
    notebook = read_notebook(path, data)
    if isinstance(notebook, LintFinding):
        return FileResult(path, [notebook])
    findings = lint_notebook(path, notebook, selection)
    if not fix or not cell_edits(findings, unsafe):
        return FileResult(path, findings)
    sources = dict(code_sources(notebook))
    applied_total, problem = 0, None
    remaining = findings
    for _ in range(MAX_ROUNDS):
        by_cell = cell_edits(remaining, unsafe)
        new_sources = dict(sources)
        applied = 0
        for index, fixes in by_cell.items():
            new_sources[index], count = apply_edits(sources[index], fixes)
            applied += count
        if applied == 0 or new_sources == sources:
            break
        module = VirtualModule.build(list(new_sources.items()))
        parsed = syntax_error(path, module.source) or checked_parse(path, module.source)
        if isinstance(parsed, LintFinding):
            problem = f"a fix would make the notebook unparsable ({parsed.message}); not applied"
            break
        sources, applied_total = new_sources, applied_total + applied
        remaining = [module.locate(f) for f in lint_module(path, module.source, parsed, selection)]
    changed = {index: text for index, text in sources.items() if text != notebook.source(index)}
    original = data.decode("utf-8-sig")
    fixed = notebook.with_sources(changed) if changed else None
    return FileResult(path, remaining, original, fixed, applied_total, problem, unfixed=findings)
