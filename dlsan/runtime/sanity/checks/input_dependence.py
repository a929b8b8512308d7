"""``input-dependence``: with the inputs replaced by zeros, the same overfitting does clearly worse.

Karpathy's "input-independent baseline".  Without its input a model can only learn the batch's
label distribution, so if zeroed inputs reach the same loss as the real ones, the model never
used them: the data does not reach the model (a wrong key, an input overwritten, a branch
disconnected from the input).  What counts as clearly worse is in
:data:`~dlsan.runtime.sanity.thresholds.INPUT_DEPENDENCE_GAP`.
"""

from __future__ import annotations

import math

from dlsan.runtime.checkreport import CheckResult, failed, passed, skipped
from dlsan.runtime.sanity.checks.overfit import loss_floor, sample
from dlsan.runtime.sanity.session import Session
from dlsan.runtime.sanity.thresholds import INPUT_DEPENDENCE_GAP

NAME = "input-dependence"


def run(session: Session) -> CheckResult:
    if session.initial.error is not None:
        return skipped(NAME, f"the loss could not be computed: {session.initial.error}")
    if session.targets_constant:
        return skipped(NAME, "every target in the batch is the same, so a model without input fits it too")
    real = session.train()
    zero = session.train(zero_inputs=True)
    start, real_end, zero_end = real[0], real[-1], zero[-1]
    if not (math.isfinite(real_end) and math.isfinite(zero_end)):
        return skipped(NAME, "a training run did not stay finite (see overfit-one-batch)")
    room = start - loss_floor(session)
    if room <= 0:
        return skipped(NAME, f"the loss at init {start:.4g} is already at its floor")
    gap = (zero_end - real_end) / room
    details = {"start": start, "real_end": real_end, "zero_end": zero_end, "gap": gap,
               "zero_curve": sample(zero), "required_gap": INPUT_DEPENDENCE_GAP}
    text = f"zeroed inputs end at {zero_end:.4g} vs {real_end:.4g} with the real inputs (from {start:.4g})"
    if gap < INPUT_DEPENDENCE_GAP:
        return failed(NAME, f"{text}: no clearly worse (gap {gap:.0%} of the possible drop, needs "
                      f"{INPUT_DEPENDENCE_GAP:.0%}): the model does not use its input", **details)
    return passed(NAME, f"{text}: worse by {gap:.0%} of the possible drop", **details)
