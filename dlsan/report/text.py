"""Text for people: ``full`` (the default: each finding with its source lines and a caret under the
span, like Ruff's full format) and ``concise`` (``path:line:col: CODE [*] message``; ``[*]`` marks
findings that ``--fix`` repairs).  Notebook findings read ``path:cell N:line:col``.

Carets line up on a terminal: tabs are expanded and wide (East Asian) characters count two columns.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence

from dlsan.lint.finding import LintFinding
from dlsan.lint.runner import FileResult
from dlsan.report.context import RenderContext
from dlsan.report.style import Palette

#: lines of source shown before and after the finding's span
CONTEXT_LINES = 2
#: a span longer than this many lines shows its first and last lines only
MAX_SPAN_LINES = 6
TAB_WIDTH = 4


def location(finding: LintFinding) -> str:
    """``path:line:col``, or ``path:cell N:line:col`` in a notebook."""
    cell = f"cell {finding.cell}:" if finding.cell is not None else ""
    return f"{finding.path}:{cell}{finding.line}:{finding.column}"


def _fix_marker(finding: LintFinding) -> str:
    return " [*]" if finding.fix is not None and finding.fix.applicability == "safe" else ""


def _headline(finding: LintFinding, palette: Palette) -> str:
    return (f"{palette.bold(location(finding))}: {palette.error(finding.code)}{_fix_marker(finding)} "
            f"{finding.message}")


def render_concise(findings: Sequence[LintFinding], context: RenderContext) -> str:
    palette = Palette(context.color)
    return "".join(f"{_headline(f, palette)}\n" for f in findings)


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _display(text: str) -> str:
    """``text`` as shown: tabs expanded to the next tab stop."""
    shown: list[str] = []
    width = 0
    for char in text:
        if char == "\t":
            pad = TAB_WIDTH - width % TAB_WIDTH
            shown.append(" " * pad)
            width += pad
        else:
            shown.append(char)
            width += _char_width(char)
    return "".join(shown)


def _width(text: str) -> int:
    return sum(_char_width(char) for char in _display(text))


def _marks(line: str, start: int, end: int) -> tuple[int, int]:
    """Display columns (0-based start, width) of the characters ``line[start:end]``."""
    offset = _width(line[:start])
    return offset, max(1, _width(line[:end]) - offset)


def _span_rows(lines: list[str], finding: LintFinding) -> list[tuple[int, int, int]]:
    """(line number, first character, end character) of each line the span covers."""
    last = min(finding.end_line, len(lines))
    rows = []
    for number in range(finding.line, last + 1):
        text = lines[number - 1]
        start = finding.column - 1 if number == finding.line else len(text) - len(text.lstrip())
        end = finding.end_column - 1 if number == finding.end_line else len(text)
        rows.append((number, min(start, len(text)), max(min(end, len(text)), start + 1)))
    if len(rows) > MAX_SPAN_LINES:
        rows = rows[: MAX_SPAN_LINES // 2] + rows[-(MAX_SPAN_LINES // 2):]
    return rows


def excerpt(lines: list[str], finding: LintFinding, palette: Palette) -> list[str]:
    """The source lines around ``finding`` with carets under its span."""
    if not 1 <= finding.line <= len(lines):
        return []
    rows = _span_rows(lines, finding)
    first = max(1, finding.line - CONTEXT_LINES)
    last = min(len(lines), rows[-1][0] + CONTEXT_LINES)
    gutter = len(str(last))
    blank = " " * gutter
    marked = {number: (start, end) for number, start, end in rows}
    out = [f"{blank} {palette.gutter('|')}"]
    previous = first - 1
    for number in range(first, last + 1):
        if number not in marked and rows[0][0] < number < rows[-1][0]:
            continue  # the middle of a long span
        if number != previous + 1:
            out.append(f"{palette.gutter('...')}")
        previous = number
        out.append(f"{palette.gutter(f'{number:>{gutter}} |')} {_display(lines[number - 1])}".rstrip())
        if number in marked:
            offset, width = _marks(lines[number - 1], *marked[number])
            label = f" {finding.code}" if number == rows[-1][0] else ""
            out.append(f"{blank} {palette.gutter('|')} {' ' * offset}{palette.error('^' * width + label)}")
    out.append(f"{blank} {palette.gutter('|')}")
    return out


def render_full(findings: Sequence[LintFinding], context: RenderContext) -> str:
    palette = Palette(context.color)
    blocks = []
    for finding in findings:
        block = [_headline(finding, palette)]
        lines = context.sources.lines(finding)
        if lines is not None:
            block.extend(excerpt(lines, finding, palette))
        if finding.fix is not None:
            unsafe = " (unsafe: `--unsafe-fixes`)" if finding.fix.applicability == "unsafe" else ""
            block.append(f"{' ' * 2}= {palette.help('help')}: {finding.fix.message}{unsafe}")
        blocks.append("\n".join(block) + "\n")
    return "\n".join(blocks)


def summary(findings: Sequence[LintFinding], files: int) -> str:
    """The closing line printed on stderr."""
    if not findings:
        return f"All checks passed ({files} file{'s' if files != 1 else ''} checked)."
    safe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "safe")
    unsafe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "unsafe")
    text = f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} in {files} file{'s' if files != 1 else ''} checked."
    if safe:
        text += f"\n[*] {safe} fixable with `dlsan check --fix`."
    if unsafe:
        text += f"\n{unsafe} more fixable with `--fix --unsafe-fixes`."
    return text


def fixed_summary(result: FileResult) -> str:
    """What ``--fix`` changed in one file (``--show-fixes``): a count per rule."""
    fixed = Counter((f.code, f.name) for f in result.unfixed) - Counter((f.code, f.name) for f in result.findings)
    rows = [f"    {count} × {code} ({name})" for (code, name), count in sorted(fixed.items())]
    return "\n".join([f"Fixed {result.applied} finding{'s' if result.applied != 1 else ''} in {result.path}:", *rows])
