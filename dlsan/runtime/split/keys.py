"""The ``labels=``, ``groups=`` and ``time=`` keys of :func:`dlsan.audit_split`.

A key is one of:

* a field of every split: a DataFrame column name, a position in tuple items or tuple splits
  (``labels=1`` for ``(x, y)``), a key of dict items;
* a callable that takes one example (a Dataset item, an array row, a tuple of rows, a DataFrame
  row as a dict) and returns the value, e.g. ``groups=lambda ex: frozenset((ex["src"], ex["dst"]))``
  for a pair of inverse links;
* the values themselves, one array per split: ``labels=(y_train, y_test)`` (in the order
  train, test, val) or ``labels={"train": y_train, "test": y_test}``.

A key named by field is left out of the content that ``duplicates`` hashes (unless ``content=``
names the fields to hash).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from dlsan.runtime.split.sources import Chunk, Column, Field, Split, as_column


class Key:
    """Where one kind of value (labels, groups, time) comes from, for every split."""

    def __init__(self, what: str, spec: Any, splits: Sequence[Split]) -> None:
        self.what = what
        self.spec = spec
        self.field: Field | None = None
        self.values: dict[str, Any] | None = None
        names = [split.name for split in splits]
        if callable(spec):
            return
        per_split = _per_split(spec, names)
        if per_split is not None:
            for split in splits:
                if len(per_split[split.name]) != len(split):
                    raise ValueError(
                        f"{what}: {len(per_split[split.name])} values for {split.name}, which has {len(split)} examples"
                    )
            self.values = per_split
            return
        if not isinstance(spec, Hashable):
            raise TypeError(f"{what} must be a field name, a callable or one array per split, got {type(spec).__name__}")
        for split in splits:
            if spec not in split.fields:
                raise KeyError(f"{what}={spec!r} is not a field of {split.name} (fields: {split.fields})")
        self.field = spec

    def column(self, split: Split, chunk: Chunk) -> Column:
        """This key's values for the rows of ``chunk``."""
        if self.field is not None:
            return chunk.columns[self.field]
        if self.values is not None:
            values = self.values[split.name]
            rows = values.iloc if hasattr(values, "iloc") else values  # a pandas Series: by position
            return as_column(rows[chunk.start : chunk.stop])
        return as_column([self.spec(example) for example in chunk.examples()])


def _per_split(spec: Any, names: Sequence[str]) -> dict[str, Any] | None:
    if isinstance(spec, Mapping):
        missing = [name for name in names if name not in spec]
        if missing:
            raise KeyError(f"values for {', '.join(missing)} missing (given: {', '.join(map(str, spec))})")
        return {name: spec[name] for name in names}
    if isinstance(spec, (tuple, list)) and len(spec) == len(names) and all(hasattr(v, "__len__") for v in spec):
        if all(not isinstance(v, (str, bytes)) for v in spec):
            return dict(zip(names, spec))
    return None
