"""The source text a finding points into, for the reporters that show or locate it.

Reporters get findings as plain data; the lines they quote come from here: the file on disk, a
notebook's cell, or text registered for a path that does not exist on disk (standard input).
Notebook findings are located in a cell; formats read by tools that know no cells (SARIF, GitHub,
GitLab) ask :meth:`SourceLines.file_line` for the line of the ``.ipynb`` file that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlsan.lint.finding import LintFinding
from dlsan.lint.notebooks import Notebook, NotebookError, is_notebook, parse_notebook
from dlsan.lint.text import split_lines


def cell_note(finding: LintFinding) -> str:
    """``"cell 7, line 3: "`` for a notebook finding (prefixed to messages in formats whose
    location is a line of the file), else empty."""
    return "" if finding.cell is None else f"cell {finding.cell}, line {finding.line}: "


@dataclass
class SourceLines:
    """Reads each file at most once; ``texts`` holds contents given in advance (stdin)."""

    texts: dict[str, str] = field(default_factory=dict)
    _lines: dict[tuple[str, int | None], list[str] | None] = field(default_factory=dict)
    _notebooks: dict[str, Notebook | None] = field(default_factory=dict)

    def _text(self, path: str) -> str | None:
        if path in self.texts:
            return self.texts[path]
        try:
            with open(path, encoding="utf-8-sig", newline="") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError):
            return None

    def notebook(self, path: str) -> Notebook | None:
        if path not in self._notebooks:
            text = self._text(path)
            try:
                self._notebooks[path] = None if text is None else parse_notebook(text)
            except NotebookError:
                self._notebooks[path] = None
        return self._notebooks[path]

    def lines(self, finding: LintFinding) -> list[str] | None:
        """The lines of the file, or of the cell, that ``finding`` is in (None when unreadable)."""
        key = (finding.path, finding.cell)
        if key not in self._lines:
            self._lines[key] = self._read(finding)
        return self._lines[key]

    def _read(self, finding: LintFinding) -> list[str] | None:
        if finding.cell is None:
            text = self._text(finding.path)
        else:
            notebook = self.notebook(finding.path)
            cells = notebook.data["cells"] if notebook is not None else []
            text = notebook.source(finding.cell - 1) if notebook is not None and finding.cell <= len(cells) else None
        if text is None:
            return None
        lines = split_lines(text)
        return lines[:-1] if len(lines) > 1 and not lines[-1] else lines  # no line after the last newline

    def file_line(self, finding: LintFinding) -> int:
        """The 1-based line of the finding's file that holds its start: for a notebook, the line
        of the ``.ipynb`` JSON where its cell line is stored (1 when that cannot be told)."""
        if finding.cell is None or not is_notebook(finding.path):
            return finding.line
        notebook = self.notebook(finding.path)
        if notebook is None:
            return 1
        return notebook.file_line(finding.cell - 1, finding.line) or 1
