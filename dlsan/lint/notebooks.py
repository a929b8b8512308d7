"""Jupyter notebooks: the code cells, joined in order, linted as one module.

A scaler fit in cell 3 and a split in cell 7 are one data flow, so the cells are not linted one by
one: their sources are joined into a *virtual module* whose lines map back to (cell, line in cell).
IPython syntax (line magics ``%time``, shell escapes ``!ls``, help ``obj?``, cell magics ``%%bash``)
is not Python; those lines become ``pass`` at the same indentation, so no other line moves and
columns on every other line stay those of the cell.

Notebooks are read as plain JSON and checked against the parts of the nbformat 4 schema that matter
here (what a notebook, a cell and a source are); a file that fails is one ``DLS000`` finding saying
why.  ``--fix`` edits only the changed cells' ``source`` and writes the JSON back in the file's own
style (indent, key order, ASCII escaping, final newline), so outputs and metadata are untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from dlsan.lint.finding import PARSE_ERROR_CODE, PARSE_ERROR_NAME, Fix, LintFinding

NOTEBOOK_SUFFIX = ".ipynb"
_CELL_TYPES = ("code", "markdown", "raw")
#: cell magics whose body is still Python (the magic line alone is neutralised)
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "python", "python3"})
_ESCAPES = ("%", "!", "?")


class NotebookError(ValueError):
    """The file is not a notebook dlsan can read; the message says why."""


def is_notebook(path: str) -> bool:
    return path.lower().endswith(NOTEBOOK_SUFFIX)


@dataclass(frozen=True)
class JsonStyle:
    """How the notebook file was written, so that rewriting it changes only what was fixed."""

    indent: int | str | None
    separators: tuple[str, str]
    ensure_ascii: bool
    final_newline: bool
    crlf: bool

    @classmethod
    def of(cls, text: str, data: dict[str, Any] | None = None) -> JsonStyle:
        """The style ``text`` is written in; with its parsed ``data``, the guess is checked by
        writing the data back, and the other separator and escaping choices are tried when the
        guess does not reproduce the text exactly."""
        guess = cls._guess(text)
        if data is None or guess.dumps(data) == text:
            return guess
        for separators in ((",", ": "), (", ", ": "), (",", ":"), (", ", ":")):
            for ensure_ascii in (False, True):
                candidate = replace(guess, separators=separators, ensure_ascii=ensure_ascii)
                if candidate.dumps(data) == text:
                    return candidate
        return guess

    @classmethod
    def _guess(cls, text: str) -> JsonStyle:
        crlf = "\r\n" in text
        body = text.replace("\r\n", "\n")
        second = re.search(r"\n([ \t]*)\S", body)
        indent: int | str | None = None
        if second is not None:
            whitespace = second.group(1)
            indent = len(whitespace) if set(whitespace) <= {" "} else whitespace
        item = "," if indent is not None or re.search(r'",\S|\d,\S|[\]}],\S', body) else ", "
        key = ": " if re.search(r'":\s', body) else ":"
        return cls(indent, (item, key), ensure_ascii=body.isascii() and "\\u" in body,
                   final_newline=body.endswith("\n"), crlf=crlf)

    def dumps(self, data: dict[str, Any]) -> str:
        text = json.dumps(data, indent=self.indent, separators=self.separators, ensure_ascii=self.ensure_ascii)
        if self.final_newline:
            text += "\n"
        return text.replace("\n", "\r\n") if self.crlf else text


@dataclass(frozen=True)
class Notebook:
    """A parsed notebook; ``code_cells`` are indexes into ``data["cells"]``."""

    data: dict[str, Any]
    code_cells: tuple[int, ...]
    text: str

    @cached_property
    def style(self) -> JsonStyle:
        """Worked out when the notebook is written back, not when it is only read."""
        return JsonStyle.of(self.text, self.data)

    def source(self, index: int) -> str:
        raw = self.data["cells"][index]["source"]
        return raw if isinstance(raw, str) else "".join(raw)

    def is_python(self) -> bool:
        """False for notebooks of another kernel language (R, Julia ...), which are not linted."""
        metadata = self.data.get("metadata", {})
        language = metadata.get("language_info", {}).get("name") or metadata.get("kernelspec", {}).get("language")
        return not isinstance(language, str) or language.lower() in ("python", "ipython", "python3")

    def with_sources(self, sources: dict[int, str]) -> str:
        """The notebook's JSON text with the given cells' sources replaced (each kept as a list of
        lines or a string, as it was)."""
        cells = list(self.data["cells"])
        for index, text in sources.items():
            kept = cells[index]["source"]
            cells[index] = {**cells[index], "source": text if isinstance(kept, str) else _source_lines(text)}
        return self.style.dumps({**self.data, "cells": cells})

    def file_line(self, index: int, line: int) -> int | None:
        """The line of the notebook file where line ``line`` of cell ``index`` is stored."""
        offsets = self._source_offsets.get(index)
        if not offsets:
            return None
        offset = offsets[min(line, len(offsets)) - 1]
        return self.text.count("\n", 0, offset) + 1

    @cached_property
    def _source_offsets(self) -> dict[int, list[int]]:
        """Offset in the file text of each cell's source (of each of its items when a list)."""
        decoder = json.JSONDecoder()
        found: dict[int, list[int]] = {}
        cursor = 0
        for index, cell in enumerate(self.data["cells"]):
            for match in _SOURCE_KEY.finditer(self.text, cursor):
                try:
                    value, end = decoder.raw_decode(self.text, match.end())
                except ValueError:
                    continue
                if value == cell["source"]:
                    found[index] = _item_offsets(self.text, match.end(), decoder) if isinstance(value, list) \
                        else [match.end()]
                    cursor = end
                    break
        return found


_SOURCE_KEY = re.compile(r'(?<!\\)"source"\s*:\s*')
_WHITESPACE = re.compile(r"[\s,]*")


def _item_offsets(text: str, start: int, decoder: json.JSONDecoder) -> list[int]:
    """Offsets of the items of the JSON array of strings at ``start``."""
    offsets: list[int] = []
    position = _WHITESPACE.match(text, start + 1).end()  # type: ignore[union-attr]
    while text[position] != "]":
        offsets.append(position)
        _, position = decoder.raw_decode(text, position)
        position = _WHITESPACE.match(text, position).end()  # type: ignore[union-attr]
    return offsets


def _source_lines(text: str) -> list[str]:
    """nbformat's multi-line string: one item per line, each but the last ending in a newline."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def parse_notebook(text: str) -> Notebook:
    """Read a notebook; raises :class:`NotebookError` naming what is wrong."""
    if not text.strip():  # a save that failed, a file created empty: JSON's error would say only "line 1 column 1"
        raise NotebookError("Notebook file is empty: no JSON at all (Jupyter cannot open it either)")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise NotebookError(f"Notebook is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise NotebookError("Not a Jupyter notebook: the JSON document is not an object.")
    version = data.get("nbformat")
    if not isinstance(version, int) or isinstance(version, bool):
        raise NotebookError("Not a Jupyter notebook: no integer 'nbformat' key.")
    if version < 4:
        raise NotebookError(f"nbformat {version} notebooks are not supported; convert with "
                            "`jupyter nbconvert --to notebook --nbformat 4`.")
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise NotebookError("Not a Jupyter notebook: 'cells' is missing or not a list.")
    if not isinstance(data.get("metadata", {}), dict):
        raise NotebookError("Not a Jupyter notebook: 'metadata' is not an object.")
    code: list[int] = []
    for index, cell in enumerate(cells):
        where = f"cell {index + 1}"
        if not isinstance(cell, dict):
            raise NotebookError(f"Invalid notebook: {where} is not an object.")
        if cell.get("cell_type") not in _CELL_TYPES:
            raise NotebookError(f"Invalid notebook: {where} has cell_type {cell.get('cell_type')!r} "
                                f"(expected one of {', '.join(_CELL_TYPES)}).")
        source = cell.get("source")
        if not (isinstance(source, str) or isinstance(source, list) and all(isinstance(s, str) for s in source)):
            raise NotebookError(f"Invalid notebook: {where} has no 'source' string or list of strings.")
        if cell["cell_type"] == "code":
            code.append(index)
    return Notebook(data, tuple(code), text)


class _LineScanner:
    """Tracks, line by line, whether the next line starts a statement (no bracket or string left
    open, no backslash continuation): only there can IPython syntax begin."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote: str | None = None
        self.continued = False

    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def code_part(self, line: str) -> str:
        """Consume ``line``; returns its code outside strings and comments."""
        code: list[str] = []
        i = 0
        while i < len(line):
            if self.quote is not None:
                if line.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                    continue
                i += 2 if line[i] == "\\" else 1
                continue
            char = line[i]
            if char == "#":
                break
            if char in "\"'":
                self.quote = line[i:i + 3] if line.startswith(char * 3, i) else char
                i += len(self.quote)
                continue
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(0, self.depth - 1)
            code.append(char)
            i += 1
        stripped = line.rstrip()
        self.continued = self.quote is None and stripped.endswith("\\") and not stripped.endswith("\\\\")
        if self.quote is not None and len(self.quote) == 1 and not stripped.endswith("\\"):
            self.quote = None  # an unterminated one-quote string ends with its line
        return "".join(code)


def _is_ipython_line(line: str, code: str) -> bool:
    """Whether ``line`` (``code``: its part outside strings and comments) is IPython syntax: it
    starts with an escape, or assigns one (``files = !ls``), as written, or has a ``?`` outside
    strings.  The escapes are looked for in the line as written: without its strings,
    ``'%s/%s' % (root, name)`` would start with ``%`` and ``path = '%s' % x`` assign one
    (ShusenTang/Dive-into-DL-PyTorch 9.9 was a DLS000)."""
    written = line.strip()
    return written.startswith(_ESCAPES) or "?" in code or bool(re.match(r"[\w.,\s]+=\s*[!%]", written))


def without_leading_indent(source: str) -> tuple[str, int, frozenset[int]]:
    """``source`` as IPython runs it when its first line that is not blank is indented
    (``leading_indent``: that indentation is removed from every line that starts with it), the
    indentation's width and the 1-based lines it was removed from; ``source`` itself, 0 and no
    lines otherwise.  A cell pasted as `` Image(filename=...)`` runs; as Python it would not parse."""
    lines = source.split("\n")
    first = next((line for line in lines if line.strip()), "")
    space = first[: len(first) - len(first.lstrip(" \t"))]
    if not space:
        return source, 0, frozenset()
    shifted = frozenset(number for number, line in enumerate(lines, start=1) if line.startswith(space))
    kept = [line[len(space):] if number in shifted else line for number, line in enumerate(lines, start=1)]
    return "\n".join(kept), len(space), shifted


def neutralise(source: str) -> tuple[str, frozenset[int]]:
    """``source`` with each line of IPython syntax replaced by ``pass`` at its indentation; returns
    the text and the 1-based numbers of the lines replaced.

    A line of IPython syntax that ends in a backslash goes on to the next line, as IPython reads
    it (``find_end_of_continued_line``: ``!cmd --a \\`` then ``    --b``): those lines are emptied.
    Open brackets do not continue it (IPython 7 on ends ``%timeit f(a,`` at its line)."""
    lines = source.split("\n")
    magic = re.match(r"%%(\w+)", lines[0].lstrip())
    if magic is not None and magic.group(1) not in _PYTHON_CELL_MAGICS:
        return "\n".join("" for _ in lines), frozenset(range(1, len(lines) + 1))
    scanner = _LineScanner()
    replaced: set[int] = set()
    continued = False
    for number, line in enumerate(lines, start=1):
        if continued:  # the rest of a line of IPython syntax
            continued = line.endswith("\\")
            lines[number - 1] = ""
            replaced.add(number)
            continue
        starts = scanner.at_statement_start()
        code = scanner.code_part(line)
        if starts and _is_ipython_line(line, code):
            indent = line[: len(line) - len(line.lstrip())]
            continued = line.endswith("\\")
            lines[number - 1] = f"{indent}pass"
            replaced.add(number)
            scanner = _LineScanner()
    return "\n".join(lines), frozenset(replaced)


@dataclass(frozen=True)
class _CellSpan:
    index: int  # position in data["cells"]
    first_line: int  # first line of the cell in the virtual module
    line_count: int
    magic_lines: frozenset[int]  # within the cell
    #: the leading indentation IPython removes from the cell (see :func:`without_leading_indent`):
    #: its width, and the lines of the cell it was removed from
    indent: int = 0
    shifted: frozenset[int] = frozenset()

    def line_in(self, line: int) -> int:
        """The line within the cell of line ``line`` of the virtual module (its last line for one past it)."""
        return min(line - self.first_line + 1, self.line_count)

    def column_in(self, line: int, column: int) -> int:
        """The column in the cell of ``column`` of line ``line`` of the cell as the virtual module holds it."""
        return column + self.indent if line in self.shifted else column


@dataclass(frozen=True)
class VirtualModule:
    """The code cells joined into one Python text, with the map back to cells."""

    source: str
    spans: tuple[_CellSpan, ...]

    @classmethod
    def build(cls, sources: Sequence[tuple[int, str]]) -> VirtualModule:
        parts: list[str] = []
        spans: list[_CellSpan] = []
        line = 1
        for index, source in sources:
            dedented, indent, shifted = without_leading_indent(source)
            text, magic = neutralise(dedented)
            if text and not text.endswith("\n"):
                text += "\n"
            count = text.count("\n")
            spans.append(_CellSpan(index, line, count, magic, indent, shifted))
            parts.append(text)
            line += count
        return cls("".join(parts), tuple(spans))

    @property
    def cells(self) -> list[tuple[int, int]]:
        """Each cell's (first line, number of lines) in :attr:`source`."""
        return [(span.first_line, span.line_count) for span in self.spans]

    def span_of(self, line: int) -> _CellSpan | None:
        for span in reversed(self.spans):
            if span.line_count and span.first_line <= line:
                return span
        return None

    def cell_line(self, line: int) -> tuple[int, int] | None:
        """Where line ``line`` of :attr:`source` is shown: its cell (1-based position among all
        cells) and line within the cell; ``None`` before the first cell with lines."""
        span = self.span_of(line)
        return None if span is None else (span.index + 1, span.line_in(line))

    def locate(self, finding: LintFinding) -> LintFinding:
        """``finding`` at its cell and line within the cell (see :meth:`cell_line`)."""
        span = self.span_of(finding.line)
        if span is None:
            return finding
        line = span.line_in(finding.line)
        end_line, end_column = finding.end_line - span.first_line + 1, finding.end_column
        if end_line > span.line_count:  # ends beyond its cell (past the last line): clamp to the cell
            end_line, end_column = line, finding.column
        return replace(finding, line=line, column=span.column_in(line, finding.column), end_line=end_line,
                       end_column=span.column_in(end_line, end_column), cell=span.index + 1,
                       fix=self._cell_fix(finding.fix, span))

    def _cell_fix(self, fix: Fix | None, span: _CellSpan) -> Fix | None:
        """The fix in cell coordinates, or None when it reaches outside the cell or into a line of
        IPython syntax (which the virtual module does not hold as written), or writes new lines
        into a cell IPython dedents (they would lack the cell's indentation)."""
        if fix is None:
            return None
        edits = []
        for edit in fix.edits:
            line, end_line = edit.line - span.first_line + 1, edit.end_line - span.first_line + 1
            if not (1 <= line <= end_line <= span.line_count):
                return None
            if any(number in span.magic_lines for number in range(line, end_line + 1)):
                return None
            if span.indent and "\n" in edit.content:
                return None
            edits.append(replace(edit, line=line, column=span.column_in(line, edit.column), end_line=end_line,
                                 end_column=span.column_in(end_line, edit.end_column)))
        return replace(fix, edits=tuple(edits))


def _file_finding(path: str, message: str) -> LintFinding:
    return LintFinding(path, 1, 1, 1, 1, PARSE_ERROR_CODE, PARSE_ERROR_NAME, message)


def read_notebook(path: str, data: bytes) -> Notebook | LintFinding:
    """The notebook in ``data``, or the DLS000 finding that says why it is not one."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return _file_finding(path, f"Notebook is not valid UTF-8 ({error.reason} at byte {error.start}).")
    try:
        return parse_notebook(text)
    except NotebookError as error:
        return _file_finding(path, str(error))


def code_sources(notebook: Notebook) -> list[tuple[int, str]]:
    return [(index, notebook.source(index)) for index in notebook.code_cells]


def cell_edits(findings: Sequence[LintFinding], unsafe: bool) -> dict[int, list[Fix]]:
    """The applicable fixes of located findings, by cell index (0-based)."""
    by_cell: dict[int, list[Fix]] = {}
    for finding in findings:
        if finding.fix is None or finding.cell is None or not (unsafe or finding.fix.applicability == "safe"):
            continue
        by_cell.setdefault(finding.cell - 1, []).append(finding.fix)
    return by_cell



def with_noqa(text: str, findings: Sequence[LintFinding],
              add_noqa: Callable[[str, Sequence[LintFinding]], tuple[str, int, list[int]]],
              ) -> tuple[str, int, list[tuple[int, int]]]:
    """The notebook ``text`` with ``add_noqa`` applied to each cell that has findings; returns the
    text, how many lines got a comment, and the (cell, line) pairs that could not take one."""
    notebook = parse_notebook(text)
    by_cell: dict[int, list[LintFinding]] = {}
    for finding in findings:
        if finding.cell is not None:
            by_cell.setdefault(finding.cell, []).append(finding)
    changed: dict[int, str] = {}
    added_total = 0
    skipped: list[tuple[int, int]] = []
    for cell, found in sorted(by_cell.items()):
        source, added, lines = add_noqa(notebook.source(cell - 1), found)
        skipped.extend((cell, line) for line in lines)
        if added:
            changed[cell - 1] = source
            added_total += added
    return (notebook.with_sources(changed) if changed else text), added_total, skipped
