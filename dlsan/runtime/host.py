"""The runtime's inner interfaces: what probes may ask of their sanitizer, and the event router.

Probes, the step tracker and the report never import :class:`~dlsan.runtime.Sanitizer`: a probe
sees a :class:`ProbeHost` (the few things it may ask for), the recorder and the step tracker
report to a :class:`Router`, which owns the step counter and hands each event to the probes that
listen to it.  The sanitizer builds both and is the only module that knows them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from dlsan.runtime.contracts import Contract
    from dlsan.runtime.findings import Finding
    from dlsan.runtime.localise import ModuleTable
    from dlsan.runtime.probe import Probe
    from dlsan.runtime.recorder import Recorder
    from dlsan.runtime.tape import BackwardWindow, ForwardPass

#: the probe events the router dispatches (``Probe`` documents each)
EVENTS = (
    "on_forward_begin",
    "on_forward_end",
    "on_backward_end",
    "before_optimizer_step",
    "on_step_skipped",
    "on_step_end",
)


class ProbeHost(Protocol):
    """What a probe may ask of the sanitizer it is attached to."""

    every: int
    scaler: Any
    #: the ``tensorboard=`` writer (``None``: ``log_scalar`` logs nothing)
    tensorboard: Any
    on_error: str
    replay: bool
    table: ModuleTable
    contracts: dict[str, Contract]
    recorder: Recorder

    @property
    def step(self) -> int: ...

    @property
    def model(self) -> nn.Module: ...

    def named_modules(self) -> list[tuple[str, nn.Module]]: ...

    def register_forward_hook(self, module: nn.Module, hook: Callable[..., Any], **kwargs: Any) -> Any: ...

    def register_forward_pre_hook(self, module: nn.Module, hook: Callable[..., Any], **kwargs: Any) -> Any: ...

    def register_input_hook(self, module: nn.Module, hook: Callable[..., Any]) -> Any: ...

    def log_scalar(self, tag: str, value: float, step: int) -> None: ...

    def unsubscribe(self, callback: Callable[..., None]) -> None: ...

    def emit(self, finding: Finding, *, fatal: bool = True) -> None: ...


class Reported(Protocol):
    """What the report (:mod:`dlsan.runtime.report`) reads."""

    probes: list[Probe]

    @property
    def step(self) -> int: ...

    @property
    def findings(self) -> list[Finding]: ...

    def to_dict(self) -> dict[str, Any]: ...


class Router:
    """Counts training steps and routes the recorder's and the step tracker's events to probes.

    ``count_backward``: a backward pass through the model ends a step (no optimizer and no scaler
    were given, see :mod:`dlsan.runtime.training`).  Once :meth:`clear` detached it, no event
    reaches a probe and no step is counted.
    """

    def __init__(self, probes: Sequence[Probe] = ()) -> None:
        from dlsan.runtime.probe import Probe

        #: training steps seen so far
        self.step = 0
        self.count_backward = False
        self.attached = True
        #: per event, the probes' callbacks: only those of probes that override it (the hot path
        #: runs through these lists, once per forward pass, backward pass and step)
        self._events: dict[str, tuple[Callable[..., None], ...]] = {}
        for event in EVENTS:
            base = getattr(Probe, event)
            self._events[event] = tuple(getattr(p, event) for p in probes if getattr(type(p), event) is not base)

    def clear(self) -> None:
        self._events = dict.fromkeys(EVENTS, ())
        self.attached = False

    def unsubscribe(self, callback: Callable[..., None]) -> None:
        """Stop routing ``callback`` (a probe's bound event method): a probe with nothing left to
        do at an event costs no call there any more."""
        self._events = {event: tuple(c for c in callbacks if c != callback) for event, callbacks in self._events.items()}

    # -- from the recorder ---------------------------------------------------------------------

    def forward_begin(self, fwd: ForwardPass) -> None:
        for callback in self._events["on_forward_begin"]:
            callback(fwd)

    def forward_end(self, fwd: ForwardPass) -> None:
        for callback in self._events["on_forward_end"]:
            callback(fwd)

    def backward_end(self, window: BackwardWindow) -> None:
        for callback in self._events["on_backward_end"]:
            callback(window)
        if self.count_backward and self.attached:
            self.advance_step()

    # -- from the step tracker -----------------------------------------------------------------

    def before_optimizer_step(self, optimizer: Any) -> None:
        for callback in self._events["before_optimizer_step"]:
            callback(optimizer)

    def step_skipped(self, optimizer: Any) -> None:
        for callback in self._events["on_step_skipped"]:
            callback(optimizer)

    def advance_step(self) -> None:
        self.step += 1
        for callback in self._events["on_step_end"]:
            callback(self.step)
