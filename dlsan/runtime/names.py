"""The names users know their modules and parameters by, and resolving the names they write in
``shapes=`` and ``allow_inf=`` against the model.

Wrappers insert modules of their own into ``named_modules()``: FSDP1's
``FullyShardedDataParallel`` (``_fsdp_wrapped_module``), activation checkpointing's
``CheckpointWrapper`` (``_checkpoint_wrapped_module``) and ``torch.compile``'s ``OptimizedModule``
(``_orig_mod``).  Their attribute names are dropped, so a wrapper and the module it wraps share the
user's name (``encoder.layers.0``), the same with and without the wrapper.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Any

WRAPPER_ATTRIBUTES = frozenset({"_fsdp_wrapped_module", "_checkpoint_wrapped_module", "_orig_mod"})


def user_name(name: str) -> str:
    """``name`` without the components wrappers add: ``_fsdp_wrapped_module.a._flat_param`` ->
    ``a._flat_param``."""
    if "_" not in name:
        return name
    return ".".join(part for part in name.split(".") if part not in WRAPPER_ATTRIBUTES)


def parameter_names(module_name: str, name: str, param: Any) -> list[str]:
    """The user's names of what ``param`` (registered as ``name`` on module ``module_name``) holds:
    its own qualified name, or for an FSDP1 flat parameter, the parameters flattened into it."""
    prefix = f"{module_name}." if module_name else ""
    inner = getattr(param, "_fqns", None)
    if inner:
        return [prefix + user_name(fqn) for fqn in inner]
    return [prefix + name]


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
