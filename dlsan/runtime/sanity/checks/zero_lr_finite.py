"""``zero-lr-finite``: a few training steps at learning rate 0 stay finite.

At learning rate 0 the weights never move, so a NaN or Inf cannot be the learning rate's fault:
it is in the forward pass (a division by zero, ``log(0)``, ``sqrt`` of a negative), the loss or
the optimizer's update (Adam with ``eps=0``).  The steps run under :func:`dlsan.instrument`,
which names the first layer that produced the non-finite value.
"""

from __future__ import annotations

import math

import torch

from dlsan.runtime import instrument
from dlsan.runtime.checkreport import CheckResult, failed, passed
from dlsan.runtime.sanity.session import Session
from dlsan.runtime.sanity.thresholds import ZERO_LR_STEPS

NAME = "zero-lr-finite"


def run(session: Session) -> CheckResult:
    model, optimizer = session.fresh_training()
    for group in optimizer.param_groups:
        lr = group.get("lr")
        group["lr"] = torch.zeros_like(lr) if isinstance(lr, torch.Tensor) else 0.0
    losses: list[float] = []
    with instrument(model, optimizer=optimizer, on_error="record", checks=["nonfinite"]) as san:
        for _ in range(ZERO_LR_STEPS):
            optimizer.zero_grad(set_to_none=True)
            loss = session.loss(model)
            losses.append(float(loss.detach()))
            if not math.isfinite(losses[-1]):
                break
            torch.autograd.backward(loss)
            optimizer.step()
        findings = [f for f in san.findings if f.kind == "nonfinite"]
    bad_params = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    details = {"losses": losses, "findings": [f.to_dict() for f in findings], "nonfinite_parameters": bad_params}
    if findings:
        return failed(NAME, f"non-finite at learning rate 0, so a bug, not the learning rate: {findings[0].message}",
                      **details)
    if not all(math.isfinite(value) for value in losses):
        return failed(NAME, f"the loss became {losses[-1]} at step {len(losses) - 1} with learning rate 0, "
                      "with every layer's output finite: the loss function produced it", **details)
    if bad_params:
        return failed(NAME, f"parameters became non-finite at learning rate 0 ({', '.join(bad_params[:5])}): "
                      "the optimizer's update is non-finite (eps=0?)", **details)
    return passed(NAME, f"{len(losses)} steps at learning rate 0: loss {losses[0]:.4g}, every value finite", **details)
