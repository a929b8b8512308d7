"""``loss-at-init``: the loss of the untrained model is close to the chance-level loss.

For cross-entropy over C classes that is ln C, for binary cross-entropy ln 2 (each computed by
the loss's own call on a uniform prediction).  Far above it, the output layer is mis-scaled (logits
a few times too large make the model confidently wrong from step 0); far below it, the model is
already right before training: labels leaking into the input.  "Far below" is measured against
the best constant prediction (the batch's label frequencies), since a final bias initialised to the
log prior, as the recipe advises for imbalanced data, starts there.
"""

from __future__ import annotations

import math
from typing import Any

from dlsan.runtime.checkreport import CheckResult, failed, passed, skipped
from dlsan.runtime.sanity.loss import BINARY, CLASSIFICATION
from dlsan.runtime.sanity.session import Session
from dlsan.runtime.sanity.thresholds import INIT_LOSS_TOLERANCE

NAME = "loss-at-init"


def run(session: Session) -> CheckResult:
    initial = session.initial
    calls = [call for call in initial.calls if call.name in CLASSIFICATION + BINARY]
    if not calls:
        seen = ", ".join(sorted({call.name for call in initial.calls})) or "no torch.nn.functional loss dlsan knows"
        return skipped(NAME, f"no chance-level loss for {seen}")
    measured: list[dict[str, Any]] = []
    for call in calls:
        chance = call.chance_loss()
        if chance is None or chance <= 0:
            continue
        prior = call.prior_loss()
        value = call.evaluate(call.input.detach())
        measured.append({
            "loss": call.name, "value": value, "chance": chance, "ratio": value / chance, "classes": call.classes,
            "prior": chance if prior is None else min(prior, chance),
        })
    if not measured:
        return skipped(NAME, "the chance-level loss is 0 (every target ignored?)")
    details = {"terms": measured, "tolerance": INIT_LOSS_TOLERANCE}
    broken = [m for m in measured if not math.isfinite(m["value"])]
    if broken:
        return failed(NAME, f"{broken[0]['loss']} at init is {broken[0]['value']} (see zero-lr-finite)", **details)
    for term in measured:
        text = f"{term['loss']} at init {term['value']:.4g} vs chance {_chance_text(term)}: ratio {term['ratio']:.2f}"
        if term["value"] > (1 + INIT_LOSS_TOLERANCE) * term["chance"]:
            return failed(NAME, f"{text}, more than {INIT_LOSS_TOLERANCE:.0%} above (a mis-scaled output layer: "
                          "confidently wrong from the start, or a loss on the wrong thing)", **details)
        if term["value"] < (1 - INIT_LOSS_TOLERANCE) * term["prior"]:
            return failed(NAME, f"{text}, more than {INIT_LOSS_TOLERANCE:.0%} below even the best constant "
                          f"prediction's {term['prior']:.4g} (the untrained model is already right: labels leak "
                          "into the input, or the model is not untrained: skip=['loss-at-init'])", **details)
    worst = max(measured, key=lambda m: abs(m["ratio"] - 1))
    text = f"{worst['loss']} at init {worst['value']:.4g} vs chance {_chance_text(worst)}: ratio {worst['ratio']:.2f}"
    return passed(NAME, f"{text}, within ±{INIT_LOSS_TOLERANCE:.0%}", **details)


def _chance_text(measured: dict[str, Any]) -> str:
    chance, classes = measured["chance"], measured["classes"]
    per = f"ln {classes} = {math.log(classes):.4g}" if classes is not None else "ln 2 = 0.6931"
    return f"{chance:.4g} ({per} per prediction)"
