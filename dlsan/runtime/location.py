"""Source locations for runtime findings: where in the user's code a finding points.

A finding points at, in this order of preference: the line of the op that failed (set by the
replay, :mod:`dlsan.runtime.replay`), the ``forward`` of the nearest user-defined module class
enclosing the module it names (torch's own classes say nothing about the user's code), or the
line of user code that called the model.  Paths under the current directory are relative to it,
as lint findings' are.  Only looked up when a finding is emitted, never on the hot path.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

Location = tuple[str, int]

_DLSAN_DIR = str(Path(__file__).resolve().parent.parent)
_LIBRARY_PREFIXES: tuple[str, ...] = ()


def _library_prefixes() -> tuple[str, ...]:
    """Directories whose frames are never the user's: dlsan, torch, the standard library."""
    global _LIBRARY_PREFIXES
    if not _LIBRARY_PREFIXES:
        import torch

        _LIBRARY_PREFIXES = (
            _DLSAN_DIR + os.sep,
            str(Path(torch.__file__).resolve().parent) + os.sep,
            str(Path(os.__file__).resolve().parent) + os.sep,
        )
    return _LIBRARY_PREFIXES


def is_user_file(filename: str) -> bool:
    if filename.startswith("<"):
        return False
    try:
        resolved = str(Path(filename).resolve())
    except OSError:
        return False
    return not resolved.startswith(_library_prefixes())


def display_path(filename: str) -> str:
    """``filename`` relative to the current directory when it lies under it, else absolute."""
    path = Path(filename).resolve()
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def user_frame(start: FrameType | None = None) -> FrameType | None:
    """The innermost frame of user code at or above ``start`` (default: the caller)."""
    frame: FrameType | None = start if start is not None else sys._getframe(1)
    while frame is not None and not is_user_file(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def caller_location() -> Location | None:
    """Where user code called into dlsan (or into the model whose first call instrumented it)."""
    frame = user_frame(sys._getframe(1))
    return None if frame is None else (display_path(frame.f_code.co_filename), frame.f_lineno)


_FORWARDS: dict[type, Location | None] = {}


def forward_location(cls: type) -> Location | None:
    """The ``def forward`` line of a user-defined module class (``None`` for torch's own)."""
    if cls not in _FORWARDS:
        _FORWARDS[cls] = _find_forward(cls)
    return _FORWARDS[cls]


def _find_forward(cls: type) -> Location | None:
    forward = getattr(cls, "forward", None)
    if forward is None:
        return None
    try:
        filename = inspect.getsourcefile(forward)
        _, line = inspect.getsourcelines(forward)
    except (OSError, TypeError):
        return None
    if filename is None or not is_user_file(filename):
        return None
    return display_path(filename), line


def module_location(name: str, names: Sequence[str], module_at: Callable[[int], Any]) -> Location | None:
    """The forward of module ``name`` or of its nearest enclosing user-defined module class."""
    index_of = {n: i for i, n in enumerate(names)}
    candidate: str | None = name
    while candidate is not None:
        index = index_of.get(candidate)
        module = None if index is None else module_at(index)
        if module is not None:
            found = forward_location(type(module))
            if found is not None:
                return found
        candidate = None if candidate == "" else candidate.rpartition(".")[0]
    return None
