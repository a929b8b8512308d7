"""Which lines of a notebook cell are its output: IPython shows the value of a cell's last
statement when that statement is an expression without a trailing ``;``.  A discarded-value rule
(``x.reshape(3, 2)`` as a statement) is wrong there: the value is displayed, which is the point."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

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


def displayed_in_percent_cell(source: str, line: int) -> bool:
    """Whether ``line`` of a percent-format notebook (a ``.py`` file of ``# %%`` cells, as
    jupytext and VS Code write them) belongs to the expression its cell displays."""
    lines = source.splitlines(keepends=True)
    markers = [i for i, text in enumerate(lines) if text.startswith("# %%")]
    starts = [i for i in markers if i < line]
    if not starts:
        return False
    start = starts[-1] + 1
    end = next((i for i in markers if i >= line), len(lines))
    shown = displayed_lines("".join(lines[start:end]))
    return shown is not None and line - start in shown
