"""Lint and fix a notebook through its virtual module (see :mod:`dlsan.lint.notebooks`).

A cell that does not parse (an exercise notebook's ``model = # TODO``) is one ``DLS000`` at its
cell and line, and the other cells are still linted without it, rather than the whole notebook
going unchecked.

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


Cells = Sequence[tuple[int, str]]


def without_broken_cells(path: str, cells: Cells) -> tuple[list[tuple[int, str]], list[LintFinding]]:
    """``cells`` with each cell that stops the module parsing emptied, and a located ``DLS000``
    for each such cell."""
    kept = list(cells)
    broken: list[LintFinding] = []
    for _ in range(len(kept)):
        module = VirtualModule.build(kept)
        error = syntax_error(path, module.source)
        if error is None:
            break
        located = module.locate(error)
        broken.append(located)
        if located.cell is None:
            break
        kept = [(index, "" if index == located.cell - 1 else text) for index, text in kept]
    return kept, broken


def _in_cell_order(findings: list[LintFinding]) -> list[LintFinding]:
    return sorted(findings, key=lambda f: (f.cell or 0, f.line, f.column))


def lint_cells(path: str, cells: Cells, selection: RuleSelection) -> list[LintFinding]:
    """Findings for code cells given as (position in the notebook, source), located by cell."""
    kept, broken = without_broken_cells(path, cells)
    module = VirtualModule.build(kept)
    found = [module.locate(finding) for finding in lint_source(path, module.source, selection)]
    return _in_cell_order(broken + found) if broken else found


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
    kept, broken = without_broken_cells(path, list(sources.items()))
    emptied = {index for index, text in kept if text != sources[index]}
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
        module = VirtualModule.build([(i, "" if i in emptied else text) for i, text in new_sources.items()])
        parsed = syntax_error(path, module.source) or checked_parse(path, module.source)
        if isinstance(parsed, LintFinding):
            problem = f"a fix would make the notebook unparsable ({parsed.message}); not applied"
            break
        sources, applied_total = new_sources, applied_total + applied
        remaining = _in_cell_order(broken + [module.locate(f) for f in lint_module(path, module.source, parsed, selection)])
    changed = {index: text for index, text in sources.items() if text != notebook.source(index)}
    original = data.decode("utf-8-sig")
    fixed = notebook.with_sources(changed) if changed else None
    return FileResult(path, remaining, original, fixed, applied_total, problem, unfixed=findings)
