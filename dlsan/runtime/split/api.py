"""``dlsan.audit_split``: the split discipline, checked before a model is trained or compared."""

from __future__ import annotations

from typing import Any

from dlsan.runtime.checkreport import CheckReport
from dlsan.runtime.split.checks import duplicates, group_overlap, label_distribution, test_size, time_order
from dlsan.runtime.split.keys import Key
from dlsan.runtime.split.scan import SplitStats, scan
from dlsan.runtime.split.sources import Split

CHECKS = (duplicates.NAME, group_overlap.NAME, time_order.NAME, label_distribution.NAME, test_size.NAME)


class SplitReport(CheckReport):
    """What :func:`audit_split` found; the same interface as :class:`~dlsan.SanityReport`."""

    title = "dlsan split audit"


def audit_split(
    train: Any,
    test: Any,
    *,
    val: Any = None,
    labels: Any = None,
    groups: Any = None,
    time: Any = None,
    accuracy: float | None = None,
    resolution: float | None = None,
) -> SplitReport:
    """Audit a train/test (and validation) split for leaks and for the test set's resolution.

    Splits are torch ``Dataset``s, tensors, NumPy arrays, pandas ``DataFrame``s or tuples of
    equally long arrays (``(X, y)``).  ``labels``, ``groups`` and ``time`` each name a field (a
    column, a tuple position, a dict key), or are a callable ``example -> value``, or one array per
    split (``(train_values, test_values[, val_values])`` or a dict by split name); a check whose key
    is not given is skipped.  ``accuracy`` is the accuracy you measured (or expect) on the test set,
    at which ``test-size`` computes its confidence interval (default: 50%, the widest);
    ``resolution`` is the accuracy difference you need to resolve: ``test-size`` fails only when
    the evaluated splits are too small for it.

    Each split is read once, in chunks; per example only an 8-byte digest is kept (plus its
    group and label in sets of distinct values when those keys are given).
    """
    if accuracy is not None and not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must be a fraction in [0, 1], not {accuracy!r}")
    if resolution is not None and not 0 < resolution < 1:
        raise ValueError(f"resolution must be a fraction in (0, 1), not {resolution!r}")
    splits = [Split("train", train)] + ([Split("val", val)] if val is not None else []) + [Split("test", test)]
    keys = {
        what: Key(what, spec, splits)
        for what, spec in (("labels", labels), ("groups", groups), ("time", time))
        if spec is not None
    }
    stats = _scan_latest_first(splits, keys)
    evaluated = stats[1:]
    return SplitReport([
        duplicates.run(stats),
        group_overlap.run(stats),
        time_order.run(stats),
        label_distribution.run(stats),
        test_size.run(evaluated, accuracy, resolution),
    ])


def _scan_latest_first(splits: list[Split], keys: dict[str, Key]) -> list[SplitStats]:
    """Scan test first, then val, then train, so that each split's pass can count its examples
    later than the earliest example of the splits after it; returned in time order."""
    stats: list[SplitStats] = []
    bound: Any = None
    for split in reversed(splits):
        found = scan(split, keys, time_bound=bound)
        if found.time is not None and found.time.earliest is not None:
            bound = found.time.earliest if bound is None or found.time.earliest < bound else bound
        stats.insert(0, found)
    return stats
