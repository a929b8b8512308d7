"""Find the tensors inside a module's inputs or outputs, and name where each one sits.

Modules return tensors, tuples, lists, dicts (including ``OrderedDict`` subclasses such as model
output classes), namedtuples (``PackedSequence``), dataclasses and ``None``.  A tensor's place is a
*path*: a tuple of keys, formatted for people as ``output[0]``, ``output['logits']`` or
``output.hidden``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

Path = tuple[Any, ...]

_MAX_DEPTH = 6


class Field(str):
    """A path key that is an attribute (dataclass or namedtuple field), printed as ``.name``."""

    __slots__ = ()


def tensors_in(obj: Any, path: Path = ()) -> list[tuple[Path, torch.Tensor]]:
    """Every tensor in ``obj`` with its path, in a deterministic order (container order)."""
    found: list[tuple[Path, torch.Tensor]] = []
    _collect(obj, path, found, 0)
    return found


def _collect(obj: Any, path: Path, found: list[tuple[Path, torch.Tensor]], depth: int) -> None:
    if isinstance(obj, torch.Tensor):
        found.append((path, obj))
        return
    if obj is None or depth >= _MAX_DEPTH or isinstance(obj, (str, bytes, int, float, bool)):
        return
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        for name, item in zip(obj._fields, obj):
            _collect(item, (*path, Field(name)), found, depth + 1)
    elif isinstance(obj, (tuple, list)):
        for index, item in enumerate(obj):
            _collect(item, (*path, index), found, depth + 1)
    elif isinstance(obj, dict):
        for key, item in obj.items():
            _collect(item, (*path, key), found, depth + 1)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for fld in dataclasses.fields(obj):
            _collect(getattr(obj, fld.name, None), (*path, Field(fld.name)), found, depth + 1)


def format_path(prefix: str, path: Path) -> str:
    """``format_path("output", (0, "logits"))`` -> ``"output[0]['logits']"``."""
    parts = [prefix]
    for key in path:
        if isinstance(key, Field):
            parts.append(f".{key}")
        else:
            parts.append(f"[{key!r}]")
    return "".join(parts)
