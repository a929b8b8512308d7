"""``group-overlap``: no group (a user, a patient, a document, a pair of inverse links) has
examples in two splits.  A model evaluated on a user it trained on is scored on what it memorised
of that user (the "subject-wise vs record-wise" split: Saeb et al., GigaScience 2017)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

from dlsan.runtime.checkreport import CheckResult, counted, failed, passed, skipped
from dlsan.runtime.split.scan import SplitStats

NAME = "group-overlap"
_SHOWN = 5


def run(stats: Sequence[SplitStats]) -> CheckResult:
    if any(s.groups is None for s in stats):
        return skipped(NAME, "no groups= given")
    overlaps: list[dict[str, Any]] = []
    for first, second in combinations(stats, 2):
        assert first.groups is not None and second.groups is not None
        shared = first.groups & second.groups
        if shared:
            overlaps.append({
                "splits": [first.name, second.name],
                "count": len(shared),
                f"{second.name}_fraction": len(shared) / len(second.groups),
                "examples": [repr(g) for g in sorted(shared, key=repr)[:_SHOWN]],
            })
    sizes = {s.name: len(s.groups or ()) for s in stats}
    details = {"groups": sizes, "overlaps": overlaps}
    if overlaps:
        return failed(NAME, "; ".join(
            f"{counted(o['count'], 'group')} in both {o['splits'][0]} and {o['splits'][1]} "
            f"({o[o['splits'][1] + '_fraction']:.1%} of {o['splits'][1]}'s groups, e.g. {', '.join(o['examples'][:3])})"
            for o in overlaps
        ), **details)
    return passed(NAME, "no group is in two splits (" + ", ".join(
        f"{count} in {name}" for name, count in sizes.items()) + ")", **details)
