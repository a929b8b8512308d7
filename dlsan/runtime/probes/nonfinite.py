"""``nonfinite``: NaN/Inf at the first bad layer, forward and backward, and in parameter gradients.

The core keeps one device-side reading (a max; a min and a max for gradients) per tensor crossing
a module boundary, exact for finite values of any magnitude.  This probe looks at them in batches: after every ``every``-th forward pass and backward pass, one host
synchronisation over all kept sums; only when that shows a NaN/Inf does it localise (see
:mod:`dlsan.runtime.localise`).

With a loss scaler (``scaler=``), gradients are judged just before the optimizer applies them,
and dropped when the scaler skips the step: inf gradients are how a scaler finds its scale.

When a step had no backward pass through the hooked modules (the model runs under
``torch.compile``, where the hooks stand aside), the optimizer's gradients themselves are checked
before the update instead (``optimizer=`` given, or the optimizer the scaler steps).  A NaN that
appears only in a weight gradient of an eager model is named at the next forward pass, as the
layer whose parameters became non-finite.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING

import torch

from dlsan.runtime.localise import (
    backward_finding,
    first_bad_forward,
    forward_finding,
    host_values,
    parameter_gradient_finding,
)
from dlsan.runtime.names import parameter_names
from dlsan.runtime.probe import Probe, register_probe
from dlsan.runtime.replay import explain_backward, explain_forward
from dlsan.runtime.tape import BackwardWindow, ForwardPass

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import ProbeHost


@register_probe
class NonFiniteProbe(Probe):
    name = "nonfinite"
    kinds = ("nonfinite",)
    fatal = True
    needs_values = True

    def __init__(self) -> None:
        super().__init__()
        self._forward: list[ForwardPass] = []
        self._backward: list[tuple[BackwardWindow, int]] = []
        self._deferred: list[tuple[BackwardWindow, int]] = []
        self._bad_passes: weakref.WeakSet[ForwardPass] = weakref.WeakSet()
        self._reported_steps: set[int] = set()
        self._eager_passes = 0
        self._eager_backward = False
        self._owner: dict[int, tuple[str, int]] = {}
        self._every = 1

    def attach(self, sanitizer: ProbeHost) -> None:
        super().attach(sanitizer)
        self._every = sanitizer.every  # fixed for the sanitizer's life; asked every pass
        for index, (prefix, module) in enumerate(sanitizer.named_modules()):
            for name, param in module.named_parameters(recurse=False):
                full = ", ".join(parameter_names(prefix, name, param))
                self._owner.setdefault(id(param), (full, index))

    def detach(self) -> None:
        self._forward.clear()
        self._backward.clear()
        self._deferred.clear()
        super().detach()

    # -- events --------------------------------------------------------------------------------

    def on_forward_end(self, fwd: ForwardPass) -> None:
        self._eager_passes += 1
        self._forward.append(fwd)
        if len(self._forward) >= self._every:
            self._inspect_forward()

    def on_backward_end(self, window: BackwardWindow) -> None:
        if not window.values:
            return
        self._eager_backward = True
        san = self._san
        if san.scaler is not None:
            self._deferred.append((window, san.step))
            return
        self._backward.append((window, san.step))
        if len(self._backward) >= self._every:
            self._inspect_backward(self._backward)

    def before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self._deferred:
            self._inspect_backward(self._deferred)
        if not self._eager_backward:
            self._inspect_parameter_gradients(optimizer)

    def on_step_skipped(self, optimizer: torch.optim.Optimizer) -> None:
        self._deferred.clear()

    def on_step_end(self, step: int) -> None:
        self._eager_passes = 0
        self._eager_backward = False

    def flush(self) -> None:
        if self._forward:
            self._inspect_forward()
        if self._backward:
            self._inspect_backward(self._backward)

    # -- inspection ----------------------------------------------------------------------------

    @property
    def _san(self) -> ProbeHost:
        assert self.sanitizer is not None, "probe used after detach()"
        return self.sanitizer

    def _inspect_forward(self) -> None:
        passes, self._forward = self._forward, []
        host = host_values(passes[0].values if len(passes) == 1 else [v for fwd in passes for v in fwd.values])
        if math.isfinite(sum(host)):
            return  # every reading finite: a NaN or an infinity in any of them would make the sum one
        at = 0
        for fwd in passes:
            k = first_bad_forward(fwd, host[at : at + len(fwd.values)])
            at += len(fwd.values)
            if k is not None:
                finding = forward_finding(fwd, self._san.table, k)
                explain_forward(finding, fwd, self._san)
                self._bad_passes.add(fwd)
                self._reported_steps.add(fwd.step)
                self.emit(finding)

    def _inspect_backward(self, pending: list[tuple[BackwardWindow, int]]) -> None:
        windows = list(pending)
        pending.clear()
        values = windows[0][0].values if len(windows) == 1 else [v for window, _ in windows for v in window.values]
        if all(map(math.isfinite, host_values(values))):  # the one host read
            return
        for window, step in windows:
            if any(fwd in self._bad_passes for fwd in window.passes()):
                continue  # the forward pass was already non-finite: this is its consequence
            finding = backward_finding(window, self._san.table, step)
            if finding is not None:
                explain_backward(finding, window, self._san)
                self._reported_steps.add(step)
                self.emit(finding)

    def _inspect_parameter_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        grads = [
            (*self._owner[id(param)], param.grad)
            for group in optimizer.param_groups
            for param in group["params"]
            if param.grad is not None and id(param) in self._owner and param.grad.is_floating_point()
        ]
        if not grads:
            return
        sums = [_dense(grad).sum() for _, _, grad in grads]
        if all(map(math.isfinite, host_values(sums))):
            return
        step = self._san.step
        if step in self._reported_steps:
            return
        bad = [(n, i, g) for n, i, g in reversed(grads) if not bool(torch.isfinite(_dense(g)).all())]
        if not bad:
            return
        hint = ""
        if not self._eager_passes:
            hint = (
                "no eager forward pass was recorded this step (torch.compile, or the model ran outside the "
                "instrumented modules): run it eagerly to find the first bad layer"
            )
        self._reported_steps.add(step)
        self.emit(parameter_gradient_finding(bad, self._san.table, step, hint))


def _dense(grad: torch.Tensor) -> torch.Tensor:
    """The stored values of a gradient (a sparse embedding gradient keeps them in ``values()``)."""
    return grad.coalesce().values() if grad.is_sparse else grad.detach()
