"""Describe a tensor for a message: shape, dtype, NaN/Inf counts, range of the finite values.

Only used on the failure path, where a host synchronisation no longer matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def tensor_stats(tensor: torch.Tensor) -> dict[str, Any]:
    data = tensor.detach()
    if data.is_complex():
        data = torch.view_as_real(data)
    stats: dict[str, Any] = {
        "shape": list(data.shape),
        "dtype": str(tensor.dtype).replace("torch.", ""),
        "numel": data.numel(),
    }
    if not data.is_floating_point():
        stats.update(nan=0, posinf=0, neginf=0)
        finite = data
    else:
        stats["nan"] = int(torch.isnan(data).sum())
        stats["posinf"] = int(torch.isposinf(data).sum())
        stats["neginf"] = int(torch.isneginf(data).sum())
        finite = data[torch.isfinite(data)]
    if finite.numel():
        stats["min"] = float(finite.min())
        stats["max"] = float(finite.max())
    return stats


def format_shape(shape: Sequence[int]) -> str:
    """A shape as Python writes a tuple: ``(4, 8)``, ``(3,)``, ``()``."""
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def format_stats(stats: dict[str, Any]) -> str:
    """``shape (4, 8) float32: 3 NaN, 1 +inf of 32 values; finite values in [-1.5, 2]``."""
    shape = format_shape(stats["shape"])
    counts = [
        f"{stats[key]} {label}"
        for key, label in (("nan", "NaN"), ("posinf", "+inf"), ("neginf", "-inf"))
        if stats[key]
    ]
    head = f"shape {shape} {stats['dtype']}: "
    if counts:
        head += ", ".join(counts) + f" of {stats['numel']} values"
        if "min" in stats:
            head += f"; finite values in [{stats['min']:.4g}, {stats['max']:.4g}]"
    else:
        head += "all finite"
        if "min" in stats:
            head += f", values in [{stats['min']:.4g}, {stats['max']:.4g}]"
    return head


def nonfinite_label(stats: dict[str, Any] | None) -> str:
    """``"NaN"``, ``"+inf"``, ``"NaN and -inf"``..., or a generic label when nothing is known."""
    if stats is None:
        return "a non-finite value (NaN or Inf)"
    labels = [label for key, label in (("nan", "NaN"), ("posinf", "+inf"), ("neginf", "-inf")) if stats[key]]
    return " and ".join(labels) if labels else "a non-finite value (NaN or Inf)"
