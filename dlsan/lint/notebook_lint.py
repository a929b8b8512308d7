"""Lint and fix a notebook through its virtual module (see :mod:`dlsan.lint.notebooks`).

A cell that does not parse (an exercise notebook's ``model = # TODO``) is one ``DLS000`` at its
cell and line, and the other cells are still linted without it, rather than the whole notebook
going unchecked.

Fixes are found on the virtual module and applied to the cells' own text, round after round as
for a ``.py`` file; a round whose cells no longer parse together is thrown away.
"""

from __future__ import annotations

from collections.abc import Sequence

from dlsan.lint.engine import RuleSelection, checked_parse, cpython_compiles, lint_module, lint_source
from dlsan.lint.finding import PARSE_ERROR_CODE, LintFinding
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
        error = checked_parse(path, module.source)
        if not isinstance(error, LintFinding):
            break
        located = module.locate(error)
        broken.append(located)
        if located.cell is None:
            break
        kept = [(index, "" if index == located.cell - 1 else text) for index, text in kept]
    return kept, broken


def _in_cell_order(findings: list[LintFinding]) -> list[LintFinding]:
    return sorted(findings, key=lambda f: (f.cell or 0, f.line, f.column))


def _has_dls000(findings: Sequence[LintFinding]) -> bool:
    return any(finding.code == PARSE_ERROR_CODE for finding in findings)


def _lint_virtual(path: str, cells: Cells, selection: RuleSelection) -> list[LintFinding]:
    module = VirtualModule.build(cells)
    found = lint_source(path, module.source, selection, module.cells, cell_of=module.cell_line)
    return [module.locate(finding) for finding in found]


def lint_cells(path: str, cells: Cells, selection: RuleSelection) -> list[LintFinding]:
    """Findings for code cells given as (position in the notebook, source), located by cell."""
    found = _lint_virtual(path, cells, selection)
    if not _has_dls000(found):  # it parsed: one parse, as for a .py file
        return found
    kept, broken = without_broken_cells(path, cells)
    if not broken:  # the DLS000 is not a cell that fails to parse (newer syntax, a rule's crash)
        return found
    return _in_cell_order(broken + _lint_virtual(path, kept, selection))


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
    broken: list[LintFinding] = []
    emptied: set[int] = set()
    if _has_dls000(findings):
        kept, broken = without_broken_cells(path, list(sources.items()))
        emptied = {index for index, text in kept if text != sources[index]}

    def virtual(texts: dict[int, str]) -> VirtualModule:
        return VirtualModule.build([(index, "" if index in emptied else text) for index, text in texts.items()])

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
        module = virtual(new_sources)
        parsed = checked_parse(path, module.source)
        if isinstance(parsed, LintFinding):
            problem = f"a fix would make the notebook unparsable ({parsed.message}); not applied"
            break
        if cpython_compiles(virtual(sources).source) and not cpython_compiles(module.source):
            problem = "a fix would make the notebook fail to compile; not applied"
            break
        sources, applied_total = new_sources, applied_total + applied
        located = [module.locate(finding)
                   for finding in lint_module(path, module.source, parsed, selection, module.cells, module.cell_line)]
        remaining = _in_cell_order(broken + located) if broken else located
    changed = {index: text for index, text in sources.items() if text != notebook.source(index)}
    original = data.decode("utf-8-sig")
    fixed = notebook.with_sources(changed) if changed else None
    return FileResult(path, remaining, original, fixed, applied_total, problem, unfixed=findings)
