"""Python versions dlsan knows, as ``target-version`` names them (``py39`` ... ``py313``).

No libcst here: config and the CLI read versions on warm, fully cached runs, which never import it.
"""

from __future__ import annotations

import re
from typing import Optional, Tuple

#: a Python version as (major, minor)
PythonVersion = Tuple[int, int]

SUPPORTED: tuple[PythonVersion, ...] = ((3, 9), (3, 10), (3, 11), (3, 12), (3, 13))
OLDEST, NEWEST = SUPPORTED[0], SUPPORTED[-1]

_NAME_RE = re.compile(r"^py3(\d+)$")
_FLOOR_RE = re.compile(r"(>=|~=|==|>)\s*3\.(\d+)")


class TargetVersionError(ValueError):
    """A target version dlsan does not know."""


def version_name(version: PythonVersion) -> str:
    return f"py{version[0]}{version[1]}"


def parse_version_name(text: str) -> PythonVersion:
    """``"py39"`` -> ``(3, 9)``; raises TargetVersionError for anything not in SUPPORTED."""
    match = _NAME_RE.match(text.strip().lower())
    version = (3, int(match.group(1))) if match else None
    if version not in SUPPORTED:
        known = ", ".join(version_name(v) for v in SUPPORTED)
        raise TargetVersionError(f"unknown target version {text!r} (known: {known})")
    assert version is not None
    return version


def requires_python_floor(spec: str) -> Optional[PythonVersion]:
    """The oldest Python a ``requires-python`` specifier admits, clamped to SUPPORTED (``">=3.8"``
    reads as py39, the oldest dlsan checks for); None when it names no lower bound."""
    floors = []
    for operator, minor in _FLOOR_RE.findall(spec):
        floors.append(int(minor) + (1 if operator == ">" else 0))
    if not floors:
        return None
    return max(OLDEST, min((3, min(floors)), NEWEST))
