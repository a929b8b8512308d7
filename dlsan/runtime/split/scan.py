"""One streaming pass over a split: what every split check needs, and nothing per example but
an 8-byte digest.

Memory per example is the digest (8 bytes) plus, when the keys are given, the example's group in
a set of distinct groups and its label in a counter of distinct labels; time keeps only the
extremes and a count.  Splits are read ``CHUNK`` rows at a time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlsan.runtime.split.hashing import row_digests
from dlsan.runtime.split.keys import Key
from dlsan.runtime.split.sources import Column, Split

CHUNK = 65536


@dataclass
class Moments:
    """Running count, mean and spread of continuous labels."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, values: np.ndarray) -> None:
        values = values.astype(np.float64, copy=False).reshape(-1)
        self.count += int(values.size)
        self.total += float(values.sum())
        self.squares += float(np.square(values).sum())
        if values.size:
            self.low, self.high = min(self.low, float(values.min())), max(self.high, float(values.max()))

    def summary(self) -> dict[str, float]:
        mean = self.total / self.count if self.count else math.nan
        variance = max(self.squares / self.count - mean * mean, 0.0) if self.count else math.nan
        return {"mean": mean, "std": math.sqrt(variance), "min": self.low, "max": self.high}


@dataclass
class TimeRange:
    """The earliest and latest time of a split, and how many of its examples come after a bound."""

    bound: Any = None
    earliest: Any = None
    latest: Any = None
    after_bound: int = 0

    def add(self, values: Column) -> None:
        values = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
        if values.size == 0:
            return
        low, high = values.min(), values.max()
        self.earliest = low if self.earliest is None or low < self.earliest else self.earliest
        self.latest = high if self.latest is None or high > self.latest else self.latest
        if self.bound is not None:
            self.after_bound += int((values > self.bound).sum())


@dataclass
class SplitStats:
    name: str
    size: int
    digests: np.ndarray
    labels: Counter[Hashable] | None = None
    moments: Moments | None = None
    groups: set[Hashable] | None = None
    time: TimeRange | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def scan(split: Split, keys: dict[str, Key], content: list[Hashable], time_bound: Any = None) -> SplitStats:
    """Digests of the ``content`` fields of ``split``, with labels, groups and time as the keys say.
    ``time_bound`` is the earliest time of the splits that must come after this one."""
    digests: list[np.ndarray] = []
    labels: Counter[Hashable] = Counter()
    moments = Moments()
    groups: set[Hashable] = set()
    time = TimeRange(bound=time_bound)
    for chunk in split.chunks(CHUNK):
        rows = chunk.stop - chunk.start
        digests.append(row_digests([chunk.columns[name] for name in content], rows))
        if "labels" in keys:
            column = keys["labels"].column(split, chunk)
            if isinstance(column, np.ndarray) and column.dtype.kind == "f":
                moments.add(column)
            else:
                labels.update(_distinct_counts(column))
        if "groups" in keys:
            groups.update(_distinct_counts(keys["groups"].column(split, chunk)))
        if "time" in keys:
            time.add(keys["time"].column(split, chunk))
    return SplitStats(
        split.name,
        len(split),
        np.concatenate(digests) if digests else np.zeros(0, np.uint64),
        labels=labels if "labels" in keys and not moments.count else None,
        moments=moments if moments.count else None,
        groups=groups if "groups" in keys else None,
        time=time if "time" in keys else None,
    )


def _distinct_counts(column: Column) -> Counter[Hashable]:
    """How often each distinct value occurs in the column (vectorised for NumPy columns)."""
    if isinstance(column, np.ndarray) and column.ndim == 1 and column.dtype.kind in "biuUSM":
        values, counts = distinct(column)
        return Counter(dict(zip(values.tolist(), counts.tolist())))  # tolist: plain Python values
    return Counter(_hashable(value) for value in column)


def distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a 1-D array and how often each occurs, by sorting (NumPy's
    ``unique`` hashes, which is several times slower on a million 64-bit values)."""
    ordered = np.sort(values, kind="stable")
    if ordered.size == 0:
        return ordered, np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1])
    return ordered[starts], np.diff(np.concatenate([starts, [ordered.size]]))


def _hashable(value: Any) -> Hashable:
    """A plain Python value to count or compare: NumPy and torch scalars unwrapped, arrays as tuples."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        value = tolist()
    if isinstance(value, list):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, Hashable):
        return value
    return repr(value)
