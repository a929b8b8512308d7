"""``gradients-reach-parameters``: every trainable parameter gets a gradient, and not only zeros.

A parameter whose gradient stays ``None`` is disconnected from the loss (a branch under
``no_grad`` or ``.detach()``, a sub-module built but never called, a head whose output is
dropped); one whose gradient is exactly zero on every step is dead (multiplied by a zero mask,
behind a saturated or never-firing unit).  The gradients of the first few optimizer steps are
looked at, since a zero-initialised residual branch only gets a gradient after the first update.
"""

from __future__ import annotations

import torch

from dlsan.runtime.checkreport import CheckResult, failed, passed, skipped, some
from dlsan.runtime.sanity.session import Session
from dlsan.runtime.sanity.thresholds import GRADIENT_STEPS

NAME = "gradients-reach-parameters"


def run(session: Session) -> CheckResult:
    model, optimizer = session.fresh_training()
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        return skipped(NAME, "the model has no trainable parameter")
    reached: set[str] = set()
    moved: set[str] = set()
    for _ in range(GRADIENT_STEPS):
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(session.loss(model))
        for name, param in trainable:
            if param.grad is not None:
                reached.add(name)
                if _nonzero(param.grad):
                    moved.add(name)
        optimizer.step()
    disconnected = [name for name, _ in trainable if name not in reached]
    dead = [name for name, _ in trainable if name in reached and name not in moved]
    details = {"parameters": len(trainable), "steps": GRADIENT_STEPS, "disconnected": disconnected, "dead": dead}
    if disconnected or dead:
        parts = []
        if disconnected:
            parts.append(f"no gradient (disconnected from the loss): {some(disconnected)}")
        if dead:
            parts.append(f"gradient exactly zero on {GRADIENT_STEPS} steps (dead): {some(dead)}")
        return failed(NAME, f"{len(disconnected) + len(dead)} of {len(trainable)} trainable parameters: "
                      + "; ".join(parts), **details)
    return passed(NAME, f"all {len(trainable)} trainable parameters get a non-zero gradient", **details)


def _nonzero(grad: torch.Tensor) -> bool:
    if grad.is_sparse:
        grad = grad.coalesce().values()
    return bool(grad.any())

