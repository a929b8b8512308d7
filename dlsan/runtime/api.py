"""``dlsan.instrument``: the one entry point of the runtime sanitizer."""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from dlsan.runtime.sanitizer import Sanitizer

DISABLE_ENV = "DLSAN_DISABLE"


def instrument(
    model: nn.Module,
    *,
    optimizer: Any = None,
    scaler: Any = None,
    on_error: str = "raise",
    shapes: Mapping[str, str] | None = None,
    checks: Iterable[str] | str | None = None,
    every: int = 1,
    allow_inf: Iterable[str] | str | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    tensorboard: Any = None,
    replay: bool | None = None,
) -> Sanitizer:
    """Watch ``model`` for silent numerical and shape bugs while it trains or runs.

    Args:
        model: the module to watch; every sub-module is hooked.
        optimizer: count steps from its ``step()`` and check its gradients before each update.
        scaler: a ``torch.amp.GradScaler``: steps it skips (inf gradients on purpose) are not errors.
        on_error: ``"raise"`` (default: :class:`NonFiniteError` / :class:`ShapeError`), ``"warn"``
            (a :class:`SanitizerWarning` with the same text) or ``"record"`` (``san.findings`` only).
        shapes: shape contracts by module name, e.g. ``{"encoder": "B T D -> B T D"}``.
        checks: names of the probes to run (default: every probe that is on by default); see
            ``dlsan.runtime.probe.probe_classes()``.
        every: look at the device-side flags once every ``every`` forward / backward passes
            instead of after each (fewer host synchronisations, later reports).
        allow_inf: modules (and their sub-modules; wildcards allowed) whose outputs may hold
            ``-inf``, such as attention-mask builders.
        options: per-probe keyword options, e.g. ``{"dead-relu": {"threshold": 0.9}}``.
        tensorboard: a ``SummaryWriter`` (anything with ``add_scalar``): the probes log their
            per-layer figures (gradient norms, dead-unit fractions) to it as they compute them.
        replay: when a module produces the first NaN/Inf, replay its forward op by op to name the
            op and its source line (default: on in ``"raise"`` mode, where it costs nothing until
            a failure; the arguments of each call are kept only while its forward pass runs).

    A ``DistributedDataParallel`` (or ``DataParallel``) wrapper is looked through: the wrapped
    module is instrumented, so module names (in findings, ``shapes=``, ``allow_inf=``) are the
    model's own, without the wrapper's ``module.`` prefix, the same on one process as on many.

    Set ``DLSAN_DISABLE=1`` to make this a no-op that returns an inert :class:`Sanitizer`.
    """
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return Sanitizer.inert()
    return Sanitizer(
        _unwrap(model),
        optimizer=optimizer,
        scaler=scaler,
        on_error=on_error,
        shapes=shapes,
        checks=checks,
        every=every,
        allow_inf=allow_inf,
        options=options,
        tensorboard=tensorboard,
        replay=replay,
    )


def check_options(options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the known keywords when ``options`` (what an integration passes
    on to :func:`instrument` later) holds one that ``instrument`` does not take."""
    known = [name for name in inspect.signature(instrument).parameters if name != "model"]
    unknown = [name for name in options if name not in known]
    if unknown:
        close = [m for name in unknown for m in difflib.get_close_matches(name, known, n=1)]
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise ValueError(
            f"unknown dlsan.instrument option(s) {', '.join(map(repr, unknown))}{hint}; known: {', '.join(known)}"
        )


def _unwrap(model: nn.Module) -> nn.Module:
    """The module inside a data-parallel wrapper (whose forward calls it, so its hooks fire)."""
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        inner: nn.Module = model.module
        return inner
    return model
