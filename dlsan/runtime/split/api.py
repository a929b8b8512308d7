"""``dlsan.audit_split``: the split discipline, checked before a model is trained or compared."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
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
    content: Sequence[Hashable] | None = None,
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

    ``content`` names the fields whose bytes make an example's identity for ``duplicates``
    (default: every field but those named by ``labels``, ``groups`` and ``time``).

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
    identity = _content_fields(splits, keys, content)
    stats = _scan_latest_first(splits, keys, identity)
    evaluated = stats[1:]
    return SplitReport([
        duplicates.run(stats),
        group_overlap.run(stats),
        time_order.run(stats),
        label_distribution.run(stats),
        test_size.run(evaluated, accuracy, resolution),
    ])


def _content_fields(
    splits: list[Split], keys: dict[str, Key], content: Sequence[Hashable] | None
) -> dict[str, list[Hashable]]:
    """Per split, the fields hashed for ``duplicates``."""
    if content is None:
        named = {key.field for key in keys.values() if key.field is not None}
        return {split.name: [name for name in split.fields if name not in named] for split in splits}
    for split in splits:
        missing = [name for name in content if name not in split.fields]
        if missing:
            raise KeyError(f"content={list(content)!r}: {missing!r} not fields of {split.name} (fields: {split.fields})")
    return {split.name: list(content) for split in splits}


def _scan_latest_first(
    splits: list[Split], keys: dict[str, Key], content: dict[str, list[Hashable]]
) -> list[SplitStats]:
    """Scan test first, then val, then train, so that each split's pass can count its examples
    later than the earliest example of the splits after it; returned in time order."""
    stats: list[SplitStats] = []
    bound: Any = None
    for split in reversed(splits):
        found = scan(split, keys, content[split.name], time_bound=bound)
        if found.time is not None and found.time.earliest is not None:
            bound = found.time.earliest if bound is None or found.time.earliest < bound else bound
        stats.insert(0, found)
    return stats
