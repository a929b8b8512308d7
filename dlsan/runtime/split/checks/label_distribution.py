"""``label-distribution``: the labels of each split, and no evaluated label unseen in training.

A class that occurs in test but never in training cannot be predicted (a split of data sorted by
label gives exactly that); the distance between the splits' label distributions is reported
(total variation: half the sum of absolute differences of the proportions) but only informs.
Float labels are summarised by mean, spread and range.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from dlsan.runtime.checkreport import CheckResult, failed, passed, skipped, some
from dlsan.runtime.split.scan import SplitStats

NAME = "label-distribution"


def run(stats: Sequence[SplitStats]) -> CheckResult:
    train, evaluated = stats[0], stats[1:]
    if all(s.moments is not None for s in stats):
        summaries = {s.name: s.moments.summary() for s in stats if s.moments is not None}
        return passed(NAME, "; ".join(
            f"{name} mean {m['mean']:.4g} std {m['std']:.4g}" for name, m in summaries.items()), continuous=summaries)
    if any(s.labels is None for s in stats):
        return skipped(NAME, "no labels= given" if all(s.labels is None and s.moments is None for s in stats)
                       else "labels are floats in some splits and categories in others")
    counts = {s.name: s.labels for s in stats if s.labels is not None}
    proportions = {name: _proportions(c) for name, c in counts.items()}
    distance = {s.name: _total_variation(proportions[train.name], proportions[s.name]) for s in evaluated}
    unseen = {s.name: sorted(set(counts[s.name]) - set(counts[train.name]), key=repr) for s in evaluated}
    details: dict[str, Any] = {
        "counts": {name: {repr(k): v for k, v in c.most_common()} for name, c in counts.items()},
        "total_variation": distance,
        "unseen_in_train": {name: [repr(v) for v in values] for name, values in unseen.items()},
    }
    summary = ", ".join(f"{name} {len(c)} labels" for name, c in counts.items())
    shift = ", ".join(f"{name} vs {train.name} {d:.3f}" for name, d in distance.items())
    missing = [(name, values) for name, values in unseen.items() if values]
    if missing:
        return failed(NAME, "; ".join(
            f"{len(values)} {name} labels never occur in {train.name} ({some([repr(v) for v in values])}): "
            "the model cannot learn them" for name, values in missing) + f" ({summary})", **details)
    return passed(NAME, f"{summary}; total variation {shift}", **details)


def _proportions(counts: dict[Hashable, int]) -> dict[Hashable, float]:
    total = sum(counts.values()) or 1
    return {label: count / total for label, count in counts.items()}


def _total_variation(first: dict[Hashable, float], second: dict[Hashable, float]) -> float:
    return 0.5 * sum(abs(first.get(k, 0.0) - second.get(k, 0.0)) for k in set(first) | set(second))

