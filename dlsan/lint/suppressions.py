"""Inline suppressions on the finding's line.

    x = torch.load(f)  # dlsan: ignore[DLS602]
    x = torch.load(f)  # dlsan: ignore[torch-load-without-weights-only, DLS501]
    x = torch.load(f)  # noqa: DLS602
    x = torch.load(f)  # noqa: DLS6          (a code prefix: every DLS6xx, as flake8 reads it)
    x = torch.load(f)  # dlsan: ignore        (everything on this line)
    x = torch.load(f)  # noqa                 (everything on this line, as flake8 does)
"""

from __future__ import annotations

import re

_DLSAN_RE = re.compile(r"#\s*dlsan:\s*ignore\b(?:\[(?P<items>[^\]]*)\])?", re.IGNORECASE)
_NOQA_RE = re.compile(r"#\s*noqa\b(?::\s*(?P<items>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)

ALL = "*"


def suppressed_on_line(line: str) -> frozenset[str]:
    """Codes and names suppressed on ``line``; ``{"*"}`` when everything is."""
    if "#" not in line:
        return frozenset()
    found: set[str] = set()
    for regex in (_DLSAN_RE, _NOQA_RE):
        for match in regex.finditer(line):
            items = match.group("items")
            if items is None:
                return frozenset({ALL})
            found.update(item.strip().upper() for item in re.split(r"[\s,]+", items) if item.strip())
    return frozenset(found)


_CODE_LIKE = re.compile(r"^[A-Z]+[0-9]+$")


def covers(item: str, code: str, name: str) -> bool:
    """Whether one suppression item names the finding: ``*``, its name, its code, or a code prefix
    (``DLS6`` covers DLS601, as flake8 reads ``# noqa: E1``)."""
    return item == ALL or item == name.upper() or (_CODE_LIKE.match(item) is not None and code.startswith(item))


def is_suppressed(line: str, code: str, name: str) -> bool:
    return any(covers(item, code, name) for item in suppressed_on_line(line))
