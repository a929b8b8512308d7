"""One view of every kind of split :func:`dlsan.audit_split` takes, read in chunks.

A split is a torch ``Dataset`` (anything with ``__len__`` and ``__getitem__``), a tensor, a NumPy
array, a pandas ``DataFrame`` or a tuple of equally long arrays/tensors (``(X, y)``).  Each is seen
as rows of named *fields*: a DataFrame's columns, a tuple's positions ``0, 1, ...``, a Dataset
item's positions (tuple items) or keys (dict items), and field ``0`` for a plain tensor or array.
A chunk maps each field to its values for a range of rows: a NumPy array when the values are
fixed-size numbers (so that hashing and comparisons are vectorised), else a list.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, cast

import numpy as np
import torch
from torch.utils.data import TensorDataset

#: rows of a generic Dataset read at once (each item is a few Python objects until stacked)
DATASET_CHUNK = 4096
Field = Hashable
Column = Any  # np.ndarray or list


@dataclass
class Chunk:
    """Rows ``start`` to ``stop`` of a split; ``columns[field]`` are their values."""

    start: int
    stop: int
    columns: dict[Field, Column]
    _examples: Callable[[int, int], list[Any]]

    def examples(self) -> list[Any]:
        """The rows as the caller sees them (what a callable key receives)."""
        return self._examples(self.start, self.stop)


class Split:
    """A split seen as ``len(split)`` rows of ``fields``; :meth:`chunks` streams them."""

    def __init__(self, name: str, data: Any) -> None:
        self.name = name
        self.data = data
        self.kind, self.length, self.fields = _describe(name, data)
        if self.kind == "columns":  # pandas Series are read by position, like the arrays
            parts = data.tensors if isinstance(data, TensorDataset) else data
            self.data = tuple(part.to_numpy() if hasattr(part, "to_numpy") else part for part in parts)

    def __len__(self) -> int:
        return self.length

    def chunks(self, size: int) -> Iterator[Chunk]:
        if self.kind == "dataset":  # items are Python objects until stacked: keep fewer alive
            size = min(size, DATASET_CHUNK)
        for start in range(0, self.length, size):
            stop = min(start + size, self.length)
            yield Chunk(start, stop, self._columns(start, stop), self._examples)

    def _columns(self, start: int, stop: int) -> dict[Field, Column]:
        data = self.data
        if self.kind == "dataframe":
            rows = data.iloc[start:stop]
            return {name: as_column(rows[name].to_numpy()) for name in self.fields}
        if self.kind == "array":
            return {0: as_column(data[start:stop])}
        if self.kind == "columns":
            return {index: as_column(part[start:stop]) for index, part in enumerate(data)}
        items = [data[index] for index in range(start, stop)]
        return {name: as_column([_field(item, name) for item in items]) for name in self.fields}

    def _examples(self, start: int, stop: int) -> list[Any]:
        data = self.data
        if self.kind == "dataframe":  # one dict per row
            return list(data.iloc[start:stop].to_dict("records"))
        if self.kind == "columns":
            return [tuple(part[index] for part in data) for index in range(start, stop)]
        return [data[index] for index in range(start, stop)]


def _describe(name: str, data: Any) -> tuple[str, int, list[Field]]:
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return "dataframe", len(data), list(data.columns)
    if isinstance(data, (torch.Tensor, np.ndarray)):
        if data.ndim == 0:
            raise TypeError(f"{name}: a 0-dimensional {type(data).__name__} is not a split")
        return "array", int(data.shape[0]), [0]
    if isinstance(data, TensorDataset):  # item i is tuple(t[i] for t in tensors): read by columns
        return _describe(name, tuple(data.tensors))
    if isinstance(data, tuple) and data and all(_is_array(part) for part in data):
        lengths = {len(part) for part in data}
        if len(lengths) != 1:
            raise ValueError(f"{name}: the arrays of a tuple split must be equally long, got lengths {sorted(lengths)}")
        return "columns", lengths.pop(), list(range(len(data)))
    if hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        length = len(data)
        return "dataset", length, _item_fields(data[0]) if length else []
    raise TypeError(
        f"{name}: expected a torch Dataset, a tensor, a NumPy array, a pandas DataFrame or a tuple of arrays, "
        f"got {type(data).__name__}"
    )


def _is_array(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.Series):
        return True
    return isinstance(value, (torch.Tensor, np.ndarray, list))


def _item_fields(item: Any) -> list[Field]:
    if isinstance(item, Mapping):
        return list(item)
    if isinstance(item, (tuple, list)):
        return list(range(len(item)))
    return [0]


def _field(item: Any, name: Field) -> Any:
    if isinstance(item, (dict, Mapping)):  # dict first: the common case, without the ABC check
        return item[name]
    if isinstance(item, (tuple, list)):
        return item[cast(int, name)]
    return item


def as_column(values: Any) -> Column:
    """Values as a NumPy array of fixed-size numbers where they are that, else a list."""
    if isinstance(values, torch.Tensor):
        return _tensor_array(values)
    if isinstance(values, np.ndarray):
        return values if values.dtype != object else list(values)
    if hasattr(values, "to_numpy"):  # a pandas Series
        return as_column(values.to_numpy())
    values = list(values)
    if values and all(isinstance(v, torch.Tensor) for v in values) and _same_layout(values):
        return _tensor_array(torch.stack(values))
    if values and all(isinstance(v, np.ndarray) for v in values) and _same_layout(values):
        return as_column(np.stack(values))
    if values and all(type(v) in (int, float, bool) for v in values) and len({type(v) for v in values}) == 1:
        return np.asarray(values)
    return values


def _same_layout(values: Sequence[Any]) -> bool:
    first = values[0]
    return all(v.shape == first.shape and v.dtype == first.dtype for v in values)


def _tensor_array(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:  # NumPy has no bfloat16: keep its bits
        tensor = tensor.view(torch.int16)
    return tensor.numpy()
