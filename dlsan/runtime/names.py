"""Resolve the module names users write in ``shapes=`` and ``allow_inf=`` against the model."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase


def unknown_module(option: str, name: str, names: Sequence[str]) -> ValueError:
    close = difflib.get_close_matches(name, [n for n in names if n], n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"{option}: the model has no module named {name!r}{hint} "
        "(names come from model.named_modules(); '' is the model itself)"
    )


def covered(patterns: Iterable[str] | str | None, names: Sequence[str], option: str) -> list[bool]:
    """Which modules a list of names covers: a name covers the module and everything inside it;
    shell-style wildcards (``layers.*.attn``) are allowed.  Unknown names raise ``ValueError``."""
    flags = [False] * len(names)
    if patterns is None:
        return flags
    for pattern in [patterns] if isinstance(patterns, str) else list(patterns):
        roots = [name for name in names if name == pattern or fnmatchcase(name, pattern)]
        if not roots:
            raise unknown_module(option, pattern, names)
        for i, name in enumerate(names):
            if any(root == "" or name == root or name.startswith(root + ".") for root in roots):
                flags[i] = True
    return flags
