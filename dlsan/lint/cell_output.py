"""Which lines of a notebook cell are its output: IPython shows the value of a cell's last
statement when that statement is an expression without a trailing ``;``.  A discarded-value rule
(``x.reshape(3, 2)`` as a statement) is wrong there: the value is displayed, which is the point.

The engine drops such findings for every rule with ``output_is_a_use``, in ``.ipynb`` notebooks
(whose cells it is given) and in percent-format ``.py`` files (whose cells it finds)."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from dlsan.lint.finding import LintFinding
from dlsan.lint.notebooks import neutralise


def displayed_lines(cell_source: str) -> range | None:
    """The 1-based lines of the expression ``cell_source`` displays, or None when it displays
    nothing (its last statement is not an expression, ends with ``;``, or the cell does not parse
    on its own)."""
    text, _ = neutralise(cell_source)
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError:
        return None
    if not module.body:
        return None
    last = module.body[-1]
    if not isinstance(last, cst.SimpleStatementLine) or not isinstance(last.body[-1], cst.Expr):
        return None
    shown = last.body[-1]
    if isinstance(shown.semicolon, cst.Semicolon):
        return None
    where = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)[shown]
    return range(where.start.line, where.end.line + 1)


#: a cell of a file: (first line, number of lines), 1-based lines of the file
CellSpan = tuple[int, int]


def percent_cells(source: str) -> list[CellSpan]:
    """The cells of a percent-format notebook (a ``.py`` file of ``# %%`` cells, as jupytext and
    VS Code write them): the lines after each marker up to the next one; none in other files."""
    if "# %%" not in source:
        return []
    lines = _lines(source)
    markers = [n for n, text in enumerate(lines, start=1) if text.startswith("# %%")]
    ends = [*markers[1:], len(lines) + 1]
    return [(marker + 1, end - marker - 1) for marker, end in zip(markers, ends)]


def without_displayed_outputs(findings: list[LintFinding], source: str, codes: Collection[str],
                              cells: Sequence[CellSpan] | None = None) -> list[LintFinding]:
    """``findings`` less those of the rules ``codes`` (rules about a value thrown away) that lie
    on the expression a cell of ``source`` displays: there the value is the cell's output.
    ``cells``: a notebook's cells; by default the ``# %%`` cells of ``source``."""
    candidates = [f for f in findings if f.code in codes]
    if not candidates:
        return findings
    if cells is None:
        cells = percent_cells(source)
    lines = _lines(source)
    dropped = set()
    for finding in candidates:
        cell = next(((first, count) for first, count in cells if first <= finding.line < first + count), None)
        if cell is None:
            continue
        first, count = cell
        shown = displayed_lines("".join(lines[first - 1:first - 1 + count]))
        if shown is not None and finding.line - first + 1 in shown and finding.end_line - first + 1 in shown:
            dropped.add(id(finding))
    return [f for f in findings if id(f) not in dropped]


def _lines(source: str) -> list[str]:
    """The lines of ``source`` with their ends, split where the parser splits them (not at the
    form feeds and other separators ``str.splitlines`` also splits at)."""
    return _LINE.findall(source)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
