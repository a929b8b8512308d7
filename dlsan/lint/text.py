"""Line handling that agrees with libcst's positions (only ``\\n``, ``\\r\\n`` and ``\\r`` end a line;
``str.splitlines`` would also split on form feeds and other characters Python source may hold)."""

from __future__ import annotations

import re

_LINE_END = re.compile(r"\r\n|\r|\n")


def split_lines(source: str) -> list[str]:
    """The lines of ``source`` without their endings."""
    return _LINE_END.split(source)


def line_endings(source: str) -> list[str]:
    """The ending of each line of :func:`split_lines` (``""`` for the last one)."""
    return [*_LINE_END.findall(source), ""]


def line_starts(source: str) -> list[int]:
    """Offset of the first character of each line (index 0 is line 1)."""
    return [0, *(match.end() for match in _LINE_END.finditer(source))]


def offset(starts: list[int], line: int, column: int) -> int:
    """String offset of a 1-based (line, column) position."""
    return starts[line - 1] + column - 1
