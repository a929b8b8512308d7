"""``overfit-one-batch``: trained on one batch only, the loss falls by at least 90%.

Any model with enough capacity memorises a single batch.  If it cannot, something between the
loss and the weights is broken: a softmax before ``CrossEntropyLoss`` (the loss then cannot get
below ln(1 + (C-1)/e)), gradients that do not reach the weights, a learning rate far off, targets
that do not belong to the inputs.  The fall is measured against what can be lost: the initial loss
minus the loss's floor (0, or the entropy of smoothed or soft targets).
"""

from __future__ import annotations

import math

from dlsan.runtime.checkreport import CheckResult, failed, passed, skipped
from dlsan.runtime.sanity.session import Session
from dlsan.runtime.sanity.thresholds import OVERFIT_DROP

NAME = "overfit-one-batch"


def run(session: Session) -> CheckResult:
    curve = session.train()
    start, end = curve[0], curve[-1]
    floor = loss_floor(session)
    details = {"start": start, "end": end, "floor": floor, "steps": session.steps, "curve": sample(curve)}
    if not math.isfinite(end):
        return failed(NAME, f"the loss became {end} at step {len(curve) - 1} of {session.steps}", **details)
    if start - floor <= 0:
        return skipped(NAME, f"the loss at init {start:.4g} is already at its floor {floor:.4g}", **details)
    drop = (start - end) / (start - floor)
    details["drop"] = drop
    text = f"loss {start:.4g} -> {end:.4g} in {session.steps} steps"
    if floor > 0:
        text += f" (floor {floor:.4g})"
    if drop < OVERFIT_DROP:
        return failed(NAME, f"{text}: fell {drop:.0%}, less than {OVERFIT_DROP:.0%}; the model cannot memorise "
                      "one batch (softmax before CrossEntropyLoss? a learning rate far off? more steps=?)", **details)
    return passed(NAME, f"{text}: fell {drop:.0%} (at least {OVERFIT_DROP:.0%})", **details)


def loss_floor(session: Session) -> float:
    """The loss's lowest value when the loss is exactly one known call, else 0."""
    calls, loss = session.initial.calls, session.initial.loss
    if len(calls) != 1 or loss is None:
        return 0.0
    call = calls[0]
    own = call.evaluate(call.input.detach())
    return call.floor() if math.isclose(own, loss, rel_tol=1e-5, abs_tol=1e-8) else 0.0


def sample(curve: list[float], points: int = 11) -> list[float]:
    """About ``points`` evenly spaced values of the curve, first and last included."""
    if len(curve) <= points:
        return list(curve)
    stride = (len(curve) - 1) / (points - 1)
    return [curve[round(k * stride)] for k in range(points)]
