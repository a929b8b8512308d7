"""``duplicates``: no example of one split is also, byte for byte, in another.

A test example that is also a training example measures memory, not generalisation (CIFAR-10 and
CIFAR-100 test sets hold near-duplicates of training images: Barz & Denzler, "Do We Train on Test
Data?", 2020).  Content is compared through 64-bit digests; duplicates within one split are
reported in the details but are not a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from dlsan.runtime.checkreport import CheckResult, counted, failed, passed
from dlsan.runtime.split.scan import SplitStats, distinct

NAME = "duplicates"
_SHOWN = 5


def run(stats: Sequence[SplitStats]) -> CheckResult:
    pairs: list[dict[str, Any]] = []
    for first, second in combinations(stats, 2):
        shared = np.isin(first.digests, second.digests)
        count = int(shared.sum())
        if count:
            pairs.append({
                "splits": [first.name, second.name],
                "count": count,
                f"{first.name}_fraction": count / first.size,
                f"{second.name}_fraction": float(np.isin(second.digests, first.digests).mean()),
                "examples": _index_pairs(first.digests, second.digests, shared),
            })
    within = {s.name: int(s.size - distinct(s.digests)[0].size) for s in stats}
    details = {"across": pairs, "within": within, "sizes": {s.name: s.size for s in stats}}
    if pairs:
        text = "; ".join(
            f"{counted(p['count'], p['splits'][0] + ' example')} also in {p['splits'][1]} "
            f"({p[p['splits'][1] + '_fraction']:.2%} of {p['splits'][1]}; e.g. "
            + ", ".join(f"{p['splits'][0]}[{i}] = {p['splits'][1]}[{j}]" for i, j in p["examples"][:2]) + ")"
            for p in pairs
        )
        return failed(NAME, text, **details)
    repeated = ", ".join(f"{count} within {name}" for name, count in within.items() if count)
    note = f" ({repeated})" if repeated else ""
    return passed(NAME, f"no example is in two splits ({', '.join(f'{s.size} {s.name}' for s in stats)} compared){note}",
                  **details)


def _index_pairs(first: np.ndarray, second: np.ndarray, shared: np.ndarray) -> list[tuple[int, int]]:
    """Up to a few ``(index in first, index in second)`` of shared content."""
    order = np.argsort(second, kind="stable")
    found = []
    for i in np.flatnonzero(shared)[:_SHOWN].tolist():
        j = int(order[np.searchsorted(second, first[i], sorter=order)])
        found.append((i, j))
    return found
