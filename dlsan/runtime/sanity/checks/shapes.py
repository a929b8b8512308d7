"""``output-target-shapes``: the model's output and the targets fit together as the loss expects.

Cross-entropy wants class scores ``(N, C, ...)`` and class indices ``(N, ...)`` in ``[0, C)``
(or probabilities of the output's shape); labels numbered from 1 reach index C, which on CPU is an
error and on CUDA a device-side assert.  Element-wise losses (MSE, L1, BCE) want equal shapes:
``(N, 1)`` against ``(N,)`` broadcasts to ``(N, N)`` with only a warning, and trains on the wrong
thing.  Losses dlsan does not know are checked only for torch's broadcast warning.
"""

from __future__ import annotations

from dlsan.runtime.checkreport import CheckResult, failed, passed, skipped
from dlsan.runtime.sanity.batch import describe
from dlsan.runtime.sanity.session import Session

NAME = "output-target-shapes"


def run(session: Session) -> CheckResult:
    initial = session.initial
    shapes = f"output {initial.output_text}, targets {describe(session.targets)}"
    problems = [problem for call in initial.calls for problem in call.problems()]
    details = {"output": initial.output_text, "targets": describe(session.targets),
               "losses": [call.name for call in initial.calls]}
    if problems:
        return failed(NAME, "; ".join(problems), problems=problems, **details)
    if initial.error is not None:
        return failed(NAME, f"{shapes}: the loss could not be computed: {initial.error}", **details)
    if initial.warnings:
        return failed(NAME, f"{shapes}: {initial.warnings[0]}", problems=initial.warnings, **details)
    if not initial.calls:
        return skipped(NAME, f"{shapes}: loss_fn calls no torch.nn.functional loss dlsan knows", **details)
    names = ", ".join(dict.fromkeys(call.name for call in initial.calls))
    return passed(NAME, f"{shapes} fit {names}", **details)
