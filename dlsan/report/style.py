"""Terminal colour: ANSI styles when on, the plain text when off.

Whether it is on is decided once, by :func:`use_color` (``--color``, ``NO_COLOR``, a terminal).
"""

from __future__ import annotations

import os
from typing import IO

_RESET = "\033[0m"


def use_color(choice: str, stream: IO[str]) -> bool:
    """``always`` / ``never``; ``auto`` colours a terminal unless ``NO_COLOR`` is set (no-color.org)."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Palette:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}{_RESET}" if self.enabled else text

    def bold(self, text: str) -> str:
        return self._paint("1", text)

    def error(self, text: str) -> str:
        return self._paint("1;31", text)

    def gutter(self, text: str) -> str:
        return self._paint("1;34", text)

    def help(self, text: str) -> str:
        return self._paint("1;36", text)
