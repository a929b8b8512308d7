"""``test-size``: how precisely the test (and validation) set measures an accuracy.

For n examples and an accuracy p, the 95% confidence interval's half-width is Wilson's score
interval (E. B. Wilson, JASA 1927), which stays honest near 100% where the normal approximation
shrinks to nothing.  The smallest difference between two models' accuracies that the set resolves
at 95% is z * sqrt(2 p (1 - p) / n) (two independent proportions; a paired test such as McNemar's
can do better when the two models make the same mistakes).  Guyon, Makhoul, Schwartz & Vapnik,
"What size test set gives good error rate estimates?" (IEEE TPAMI 1998) make the same point for
error rates.  With 10,000 examples at 99.5%, the half-width is 0.14% and two models must differ by
0.2%: 99.4% and 99.5% cannot be told apart.  The check only informs, unless the caller sets
``resolution=``, the difference it needs to resolve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dlsan.runtime.checkreport import CheckResult, failed, passed, skipped
from dlsan.runtime.split.scan import SplitStats

NAME = "test-size"
Z95 = 1.959963984540054


def wilson_half_width(p: float, n: int, z: float = Z95) -> float:
    denominator = 1 + z * z / n
    return z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))


def resolvable_difference(p: float, n: int, z: float = Z95) -> float:
    return z * math.sqrt(2 * p * (1 - p) / n)


def needed_size(p: float, difference: float, z: float = Z95) -> int:
    return math.ceil(2 * p * (1 - p) * (z / difference) ** 2)


def run(evaluated: Sequence[SplitStats], accuracy: float | None, resolution: float | None) -> CheckResult:
    p = 0.5 if accuracy is None else accuracy
    at = "at accuracy 50% (the widest case; give accuracy= for yours)" if accuracy is None else f"at accuracy {p:.2%}"
    sizes = {s.name: s.size for s in evaluated if s.size}
    if not sizes:
        return skipped(NAME, "the evaluated splits are empty")
    figures = {
        name: {"size": n, "half_width": wilson_half_width(p, n), "resolvable_difference": resolvable_difference(p, n)}
        for name, n in sizes.items()
    }
    details = {"accuracy": p, "accuracy_given": accuracy is not None, "resolution": resolution, "splits": figures}
    text = "; ".join(
        f"{name} {f['size']}: ±{f['half_width']:.2%} (95% CI), resolves differences ≥ {f['resolvable_difference']:.2%}"
        for name, f in figures.items()
    ) + f" {at}"
    if resolution is not None:
        short = {name: f for name, f in figures.items() if f["resolvable_difference"] > resolution}
        if short:
            need = needed_size(p, resolution)
            details["needed_size"] = need
            return failed(NAME, f"{text}: cannot resolve {resolution:.2%} "
                          f"({', '.join(short)} would need {need} examples)", **details)
    return passed(NAME, text, **details)
