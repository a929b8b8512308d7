"""``input-dependence``: with the inputs replaced by zeros, the same overfitting does clearly worse.

Karpathy's "input-independent baseline".  Without its input a model can only learn the batch's
label distribution, so if zeroed inputs reach the same loss as the real ones, the model never
used them: the data does not reach the model (a wrong key, an input overwritten, a branch
disconnected from the input).  What counts as clearly worse is
:data:`~dlsan.runtime.sanity.thresholds.INPUT_DEPENDENCE_RATIO`.  The check fails when the zeroed
run is not clearly worse and either both runs give the same losses step for step (the input is
never read) or the real run did overfit (the model memorised the batch without its input); when
neither run fits the batch the comparison says nothing and the check is skipped.
"""

from __future__ import annotations

import math

from dlsan.runtime.checkreport import CheckResult, failed, passed, skipped
from dlsan.runtime.sanity.checks.overfit import loss_floor, sample
from dlsan.runtime.sanity.session import Session
from dlsan.runtime.sanity.thresholds import INPUT_DEPENDENCE_RATIO, OVERFIT_DROP

NAME = "input-dependence"


def run(session: Session) -> CheckResult:
    if session.targets_constant:
        return skipped(NAME, "every target in the batch is the same, so a model without input fits it too")
    real = session.train()
    zero = session.train(zero_inputs=True)
    start, real_end, zero_end = real[0], real[-1], zero[-1]
    if not (math.isfinite(real_end) and math.isfinite(zero_end)):
        return skipped(NAME, "a training run did not stay finite (see overfit-one-batch)")
    floor = loss_floor(session)
    real_excess, zero_excess = max(real_end - floor, 0.0), max(zero_end - floor, 0.0)
    ratio = zero_excess / real_excess if real_excess > 0 else (math.inf if zero_excess > 0 else 1.0)
    details = {"start": start, "real_end": real_end, "zero_end": zero_end, "floor": floor, "ratio": ratio,
               "zero_curve": sample(zero), "required_ratio": INPUT_DEPENDENCE_RATIO}
    text = f"zeroed inputs end at {zero_end:.4g} vs {real_end:.4g} with the real inputs (from {start:.4g})"
    if ratio >= INPUT_DEPENDENCE_RATIO:
        return passed(NAME, f"{text}: {ratio:.3g}x worse", **details)
    same = len(real) == len(zero) and all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(real, zero))
    details["same_curve"] = same
    fitted = (start - real_end) >= OVERFIT_DROP * (start - floor)
    if same or fitted:
        return failed(NAME, f"{text}: not clearly worse ({ratio:.3g}x, needs {INPUT_DEPENDENCE_RATIO:g}x): "
                      "the model does not use its input"
                      + (" (both runs give the same losses, step for step)" if same else ""), **details)
    return skipped(NAME, f"{text}: inconclusive, since the real inputs did not overfit either "
                   "(see overfit-one-batch)", **details)
