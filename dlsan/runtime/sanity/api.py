"""``dlsan.sanity_check``: the debugging recipe to run once before a long training run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable

import torch
from torch import nn

from dlsan.runtime.checkreport import CheckReport, CheckResult, skipped
from dlsan.runtime.sanity.checks import (
    batch_independence,
    gradients,
    input_dependence,
    loss_at_init,
    overfit,
    shapes,
    zero_lr_finite,
)
from dlsan.runtime.sanity.rng import preserved_rng
from dlsan.runtime.sanity.session import OptimizerFactory, Session

CHECKS = (
    loss_at_init.NAME,
    zero_lr_finite.NAME,
    gradients.NAME,
    batch_independence.NAME,
    overfit.NAME,
    input_dependence.NAME,
    shapes.NAME,
)


class SanityReport(CheckReport):
    """What :func:`sanity_check` found: ``.passed``, ``.checks`` (in order), ``str()`` a table,
    ``to_dict()``, ``raise_on_failure()``; ``report["overfit-one-batch"]`` picks one check."""

    title = "dlsan sanity check"


def sanity_check(
    model: nn.Module,
    batch: Any,
    loss_fn: Callable[..., Any],
    *,
    optimizer: OptimizerFactory | torch.optim.Optimizer | None = None,
    steps: int = 200,
    device: torch.device | str | None = None,
    mixes_batch: bool = False,
    skip: Iterable[str] = (),
) -> SanityReport:
    """Run the pre-training sanity checks on a deep copy of ``model`` and one ``batch``.

    Args:
        model: the untrained model; it, its gradients and its mode are never changed.
        batch: ``(inputs, targets)``: ``model(inputs)`` (``*inputs`` for a tuple, ``**inputs``
            for a dict) and ``loss_fn(output, targets)`` must run; dimension 0 is the batch.
        loss_fn: returns the scalar loss.
        optimizer: a factory ``params -> Optimizer`` (default ``Adam(params, lr=1e-3)``), or an
            optimizer, of which a new one of the same class and defaults is built (yours is
            never stepped).
        steps: optimizer steps of the overfitting runs.
        device: where to run the copy (default: where the model's parameters are).
        mixes_batch: the model mixes examples on purpose: skip ``batch-independence``.
        skip: names of checks not to run (e.g. ``"loss-at-init"`` for a pretrained model).

    Every random number generator (torch CPU and CUDA, ``random``, NumPy) is left as it was.
    """
    skipping = set(skip)
    unknown = sorted(skipping - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(map(repr, unknown))}; checks: {', '.join(CHECKS)}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"sanity_check needs a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer, not {steps!r}")
    where = torch.device(device) if device is not None else _model_device(model)
    runs: dict[str, Callable[[Session], CheckResult]] = {
        loss_at_init.NAME: loss_at_init.run,
        zero_lr_finite.NAME: zero_lr_finite.run,
        gradients.NAME: gradients.run,
        batch_independence.NAME: lambda session: batch_independence.run(session, mixes_batch=mixes_batch),
        overfit.NAME: overfit.run,
        input_dependence.NAME: input_dependence.run,
        shapes.NAME: shapes.run,
    }
    with preserved_rng(where):
        session = Session(model, batch, loss_fn, optimizer, steps, where)
        results = [_run(name, runs[name], session, skipping) for name in CHECKS]
    return SanityReport(results)


#: the checks that run without a loss: they say why it cannot be computed, or need only outputs
_WITHOUT_LOSS = (shapes.NAME, batch_independence.NAME)


def _run(name: str, run: Callable[[Session], CheckResult], session: Session, skipping: set[str]) -> CheckResult:
    if name in skipping:
        return skipped(name, "skipped by the caller (skip=)")
    if session.initial.error is not None and name not in _WITHOUT_LOSS:
        return skipped(name, f"the loss could not be computed: {session.initial.error}")
    return run(session)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")
