"""What ``--diff`` prints: a unified diff of each file's fixes; for a notebook, one per changed
cell (``a/nb.ipynb:cell 9``), since a diff of its JSON would show escaped strings."""

from __future__ import annotations

import difflib

from dlsan.lint.notebooks import NotebookError, is_notebook, parse_notebook

_NO_NEWLINE = "\\ No newline at end of file\n"


def _unified(original: str, fixed: str, name: str) -> str:
    """A unified diff that, like ``diff`` and ``git diff``, marks a last line without a newline
    instead of gluing the next line of output to it."""
    lines = difflib.unified_diff(original.splitlines(keepends=True), fixed.splitlines(keepends=True),
                                 fromfile=f"a/{name}", tofile=f"b/{name}")
    return "".join(line if line.endswith("\n") else line + "\n" + _NO_NEWLINE for line in lines)


def fix_diff(path: str, original: str, fixed: str) -> str:
    if not is_notebook(path):
        return _unified(original, fixed, path)
    try:
        before, after = parse_notebook(original), parse_notebook(fixed)
    except NotebookError:
        return _unified(original, fixed, path)
    cells = []
    for index in before.code_cells:
        old, new = before.source(index), after.source(index)
        if old != new:
            cells.append(_unified(old if old.endswith("\n") else old + "\n", new if new.endswith("\n") else new + "\n",
                                  f"{path}:cell {index + 1}"))
    return "".join(cells)
