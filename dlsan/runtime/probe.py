"""The probe interface: how a runtime check plugs into the sanitizer without touching its core.

A probe is a small class that watches the run through a few events and reports
:class:`~dlsan.runtime.Finding` objects.  The core (:mod:`dlsan.runtime.recorder`) already hooks
every module; a probe listens to what the core sees, and registers its own hooks only for what
the core does not compute.

Writing a probe (one module in ``dlsan/runtime/probes/``; every module there is imported when
the first sanitizer is built, so nothing is listed by hand)::

    from dlsan.runtime.findings import Finding
    from dlsan.runtime.probe import Probe, register_probe

    @register_probe
    class DeadReluProbe(Probe):
        name = "dead-relu"           # the key used by ``instrument(checks=...)``
        kinds = ("dead-relu",)       # Finding kinds it emits (DESIGN.md fixes the strings)
        default = True               # on when ``checks`` is None; False makes it opt-in

        def __init__(self, threshold: float = 0.7, window: int = 50) -> None:
            super().__init__()       # options come from instrument(options={"dead-relu": {...}})
            ...

        def attach(self, sanitizer):
            super().attach(sanitizer)
            for name, module in sanitizer.named_modules():
                if isinstance(module, torch.nn.ReLU):
                    sanitizer.register_forward_hook(module, self._seen)   # removed by remove()

        def on_step_end(self, step):
            ...                      # judge, then self.emit(Finding("dead-relu", name, "forward", step, msg))

Events, all optional (the defaults do nothing); ``fwd`` is a :class:`~dlsan.runtime.tape.ForwardPass`,
``window`` a :class:`~dlsan.runtime.tape.BackwardWindow`:

``on_forward_begin(fwd)``       the outermost instrumented call starts (``torch.is_grad_enabled()``
                                and ``model.training`` are what the user set).
``on_forward_end(fwd)``         the outermost call returned; the tape is complete.
``on_backward_end(window)``     the autograd engine finished a backward pass through the model.
``before_optimizer_step(opt)``  ``opt.step()`` is about to apply gradients (after any unscaling).
``on_step_skipped(opt)``        the loss scaler skipped this step (its gradients were inf on purpose).
``on_step_end(step)``           the step counter advanced to ``step`` (see :attr:`Sanitizer.step`).
``flush()``                     inspect anything kept for later (``Sanitizer.check()``, report, remove);
                                a probe that judges over a window reports the open, partial one here
                                (saying how many steps it covered).

``not_enough(steps)`` returns why the probe has not seen enough steps to judge (``report()`` lists it).

``watch()`` returns a context manager that ``Sanitizer.watch()`` enters around user code outside
the model (the loss), for probes that look inside torch calls.

Rules for the hot path (module hooks, gradient observers): no host synchronisation (no
``.item()``, ``bool(t)``, ``if t``): keep device-side results and look at them in ``on_step_end``
or ``flush``; hold no tensor across steps; return ``None`` from hooks (never change values).
Register module hooks through the sanitizer (``register_forward_hook``, ``register_input_hook``,
``register_forward_pre_hook``): it never calls them while dynamo traces, and runs them from its
own hook where it has one on the module (one Python hook per call); other code (gradient hooks,
``watch()``) does nothing while ``dlsan.runtime.compat.is_compiling()``.  For per-layer activation gradients, append
an observer ``fn(fwd, slot, grad)`` to ``sanitizer.recorder.grad_observers`` instead of hooking
tensors yourself; ``fwd.owners[slot]`` / ``fwd.producers(slot)`` map the slot to module calls.
Observers see the gradient of every tensor crossing a module boundary (while any observer is
registered the core hooks them all, even those its own check could skip).  ``needs_values = True``
asks the core to keep its per-slot sums (``fwd.values``, ``window.values``).

Findings go through :meth:`Probe.emit`, which applies the sanitizer's ``on_error`` mode to fatal
probes (``fatal = True``: the non-finite and shape checks) and records the rest.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import weakref
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from dlsan.runtime.findings import Finding

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from dlsan.runtime.host import ProbeHost
    from dlsan.runtime.tape import BackwardWindow, ForwardPass


class Probe:
    """Base class of runtime checks; see the module docstring for the event protocol."""

    name: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()
    default: ClassVar[bool] = True
    fatal: ClassVar[bool] = False
    #: ask the core to keep one sum per tensor crossing a module boundary (forward and backward)
    needs_values: ClassVar[bool] = False

    def __init__(self) -> None:
        self._sanitizer_ref: weakref.ref[ProbeHost] | None = None

    @property
    def sanitizer(self) -> ProbeHost | None:
        """The sanitizer this probe is attached to (held weakly: hooks must not keep it alive)."""
        return None if self._sanitizer_ref is None else self._sanitizer_ref()

    def attach(self, sanitizer: ProbeHost) -> None:
        self._sanitizer_ref = weakref.ref(sanitizer)

    def detach(self) -> None:
        self._sanitizer_ref = None

    def emit(self, finding: Finding) -> None:
        sanitizer = self.sanitizer
        if sanitizer is not None:
            sanitizer.emit(finding, fatal=self.fatal)

    def on_forward_begin(self, fwd: ForwardPass) -> None:
        pass

    def on_forward_end(self, fwd: ForwardPass) -> None:
        pass

    def on_backward_end(self, window: BackwardWindow) -> None:
        pass

    def before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        pass

    def on_step_skipped(self, optimizer: torch.optim.Optimizer) -> None:
        pass

    def on_step_end(self, step: int) -> None:
        pass

    def flush(self) -> None:
        pass

    def watch(self) -> contextlib.AbstractContextManager[Any]:
        """Context for code outside the model that the probe should see (see ``Sanitizer.watch``)."""
        return contextlib.nullcontext()

    def not_enough(self, seen: int) -> str | None:
        """Why this probe could not judge everything after ``seen`` steps (too few), for
        ``report()``; ``None`` when it could."""
        return None

    def summary(self) -> dict[str, Any]:
        """Extra machine-readable state for ``Sanitizer.to_dict()`` (e.g. per-layer series)."""
        return {}


def check_positive_int(value: Any, label: str) -> None:
    """Raise ``ValueError("<label> must be a positive int, not ...")`` unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{label} must be a positive int, not {value!r}")


P = TypeVar("P", bound=type[Probe])

_REGISTRY: dict[str, type[Probe]] = {}
_DISCOVERED = False


def register_probe(cls: P) -> P:
    """Class decorator: make ``cls`` available to ``instrument(checks=[cls.name])``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} needs a non-empty `name`")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"probe name {cls.name!r} is taken by {existing.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def probe_classes() -> dict[str, type[Probe]]:
    """All registered probes by name (built-in ones are imported on first use)."""
    global _DISCOVERED
    if not _DISCOVERED:
        import dlsan.runtime.probes as package

        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
        _DISCOVERED = True
    return dict(_REGISTRY)
