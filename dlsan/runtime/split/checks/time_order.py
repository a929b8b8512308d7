"""``time-order``: every training example is older than every validation and test example.

A model that predicts the past from the future is scored on information it will not have when
deployed: time-series and temporal splits must cut at one time (the contract of scikit-learn's
``TimeSeriesSplit``).  The order is train, then val, then test.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from dlsan.runtime.checkreport import CheckResult, failed, passed, skipped
from dlsan.runtime.split.scan import SplitStats, TimeRange

NAME = "time-order"


def run(stats: Sequence[SplitStats]) -> CheckResult:
    """``stats`` in time order; each split's ``time.after_bound`` counts its examples later than
    the earliest example of the splits after it."""
    ranges: list[tuple[str, TimeRange]] = [(s.name, s.time) for s in stats if s.time is not None]
    if len(ranges) != len(stats):
        return skipped(NAME, "no time= given")
    late = [
        f"{before} runs to {b.latest} but {after} starts at {a.earliest}"
        + (f" ({b.after_bound} {before} examples are later than that)" if b.after_bound else "")
        for (before, b), (after, a) in combinations(ranges, 2)
        if b.latest is not None and a.earliest is not None and b.latest > a.earliest
    ]
    details = {
        "ranges": {name: [str(r.earliest), str(r.latest)] for name, r in ranges},
        "later_than_next": {name: r.after_bound for name, r in ranges},
    }
    if late:
        return failed(NAME, "; ".join(late), **details)
    return passed(NAME, " < ".join(f"{name} {r.earliest}..{r.latest}" for name, r in ranges), **details)
