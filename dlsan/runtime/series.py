"""Per-layer values over steps, bounded in memory, for reports and plots.

A run may last millions of steps; a plot needs a few hundred points.  :class:`Series` keeps at
most ``limit`` points: when full it drops every other point and from then on keeps only every
second step offered (then every fourth...), so the whole run stays covered evenly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Series:
    def __init__(self, limit: int = 512) -> None:
        self.limit = max(2, limit)
        self.stride = 1
        self.steps: list[int] = []
        self.values: list[dict[str, float]] = []
        self._offered = 0

    def add(self, step: int, values: Mapping[str, float]) -> None:
        self._offered += 1
        if (self._offered - 1) % self.stride:
            return
        self.steps.append(step)
        self.values.append(dict(values))
        if len(self.steps) >= self.limit:
            self.steps, self.values = self.steps[::2], self.values[::2]
            self.stride *= 2

    def layers(self) -> list[str]:
        """Every name that has a value at some step, in first-seen order."""
        return list(dict.fromkeys(name for values in self.values for name in values))

    def to_dict(self) -> dict[str, Any]:
        """``{"steps": [...], "layers": {name: [value or None per step]}}``."""
        return {
            "steps": list(self.steps),
            "layers": {name: [values.get(name) for values in self.values] for name in self.layers()},
        }
