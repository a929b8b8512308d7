"""Optimizer and loss-scaler wiring: the step counter, and when gradients are final.

``Sanitizer.step`` counts training steps: calls of ``scaler.step()`` when a scaler is given (it
runs every iteration, also when it skips the update), else completed ``optimizer.step()`` calls
when an optimizer is given, else backward passes through the model.

The tracker tells the sanitizer's :class:`~dlsan.runtime.host.Router` three things:
``before_optimizer_step(opt)`` (an update is about to be applied), ``step_skipped(opt)`` (the loss
scaler found inf/NaN gradients and skipped the update, which is how dynamic loss scaling works,
not an error) and ``advance_step()``.  A skip is
seen as ``scaler.step()`` returning without having called ``optimizer.step()``, or, for optimizers
that handle the scale themselves (fused Adam), as the ``found_inf`` flag the scaler hands them.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Callable

import torch

from dlsan.runtime.findings import SanitizerError

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import Router


class StepTracker:
    def __init__(self, router: Router, optimizer: Any, scaler: Any) -> None:
        self.mode = "scaler" if scaler is not None else "optimizer" if optimizer is not None else "backward"
        self._router_ref = weakref.ref(router)
        self._handles: list[Any] = []
        self._hooked: set[int] = set()
        self._ran = False
        self._scaler = scaler
        self._scaler_step: Callable[..., Any] | None = None
        self._scaler_had_attr = False
        if optimizer is not None:
            self.hook_optimizer(optimizer)
        if scaler is not None:
            self._wrap_scaler(scaler)

    def hook_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        if id(optimizer) in self._hooked:
            return
        self._hooked.add(id(optimizer))
        self._handles.append(optimizer.register_step_pre_hook(self._pre_step))
        self._handles.append(optimizer.register_step_post_hook(self._post_step))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._hooked.clear()
        scaler, wrapper = self._scaler, self._scaler_step
        if scaler is not None and wrapper is not None and scaler.__dict__.get("step") is wrapper:
            if self._scaler_had_attr:
                scaler.step = self._original_step
            else:
                del scaler.step
        self._scaler = self._scaler_step = None

    def _pre_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        __tracebackhide__ = True
        router = self._router_ref()
        if router is None:
            return
        self._ran = True
        found_inf = getattr(optimizer, "found_inf", None)
        try:
            if isinstance(found_inf, torch.Tensor) and bool(found_inf.sum() > 0):
                router.step_skipped(optimizer)
            else:
                router.before_optimizer_step(optimizer)
        except SanitizerError as error:
            raise error.with_traceback(None)  # noqa: B904  # the same error, its traceback ending at the user's optimizer.step()

    def _post_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        router = self._router_ref()
        if router is not None and self.mode == "optimizer":
            router.advance_step()

    def _wrap_scaler(self, scaler: Any) -> None:
        self._scaler_had_attr = "step" in scaler.__dict__
        original = self._original_step = scaler.step
        tracker_ref = weakref.ref(self)

        def step(optimizer: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
            tracker = tracker_ref()
            if tracker is None:
                return original(optimizer, *args, **kwargs)
            tracker.hook_optimizer(optimizer)
            tracker._ran = False
            result = original(optimizer, *args, **kwargs)
            router = tracker._router_ref()
            if router is not None:
                if not tracker._ran:
                    router.step_skipped(optimizer)
                router.advance_step()
            return result

        self._scaler_step = step
        scaler.step = step
