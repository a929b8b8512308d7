"""The :class:`Sanitizer`: what ``dlsan.instrument`` returns, and the hub between the core and probes.

It owns the recorder (module hooks), the step tracker (optimizer / loss scaler), the probes and the
:class:`~dlsan.runtime.host.Router` between them; it is the :class:`~dlsan.runtime.host.ProbeHost`
the probes see, applies ``on_error`` to findings, gives each its source location and detaches
everything on :meth:`Sanitizer.remove` (or when the ``with`` block exits, even on error).
"""

from __future__ import annotations

import inspect
import warnings
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Callable

from torch import nn

from dlsan.runtime.compat import eager_only, is_compiling
from dlsan.runtime.contracts import Contract, parse_contract
from dlsan.runtime.findings import Finding, NonFiniteError, SanitizerError, SanitizerWarning, ShapeError
from dlsan.runtime.host import Router
from dlsan.runtime.localise import ModuleTable
from dlsan.runtime.location import Location, caller_location, module_location
from dlsan.runtime.names import covered, unknown_module, user_name
from dlsan.runtime.probe import Probe, check_positive_int, probe_classes
from dlsan.runtime.recorder import Recorder
from dlsan.runtime.training import StepTracker

ON_ERROR = ("raise", "warn", "record")
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_ERRORS: dict[str, type[SanitizerError]] = {"nonfinite": NonFiniteError, "shape": ShapeError}


class Sanitizer:
    """Watches one model; see :func:`dlsan.instrument` for the arguments.

    Use as a context manager (hooks are removed on exit, even when the body raised) or call
    :meth:`remove`.  ``findings`` lists what was seen (repeats of the same problem are merged:
    ``details["count"]`` and ``details["last_step"]``), :meth:`report` summarises it for people,
    :meth:`to_dict` for programs.
    """

    tensorboard: Any
    probes: list[Probe]
    contracts: dict[str, Contract]

    def __init__(
        self,
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
    ) -> None:
        self._init_state(on_error, every, optimizer, scaler)
        self.tensorboard = tensorboard
        self.replay = (on_error == "raise") if replay is None else bool(replay)
        if not isinstance(model, nn.Module):
            raise TypeError(f"instrument() needs a torch.nn.Module, got {type(model).__name__}")
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(map(repr, ON_ERROR))}, not {on_error!r}")
        check_positive_int(every, "every")
        named = _watched_modules(model)
        names = [name for name, _ in named]
        self._model_ref = weakref.ref(model)
        allow_neg_inf = covered(allow_inf, names, "allow_inf")
        self.table = ModuleTable(named, allow_neg_inf)
        self.contracts = _parse_contracts(shapes, names)
        self.probes = _build_probes(checks, options, bool(self.contracts))
        self._router = Router(self.probes)
        self.recorder = Recorder(
            self._router,
            [module for _, module in named],
            reduce=any(probe.needs_values for probe in self.probes),
            allow_neg_inf=allow_neg_inf,
            keep_calls=self.replay,
            whole_calls=frozenset(index for index, name in enumerate(names) if name in self.contracts),
        )
        self._attached = True
        self._tracker = StepTracker(self._router, optimizer, scaler)
        self._router.count_backward = self._tracker.mode == "backward"
        for probe in self.probes:
            probe.attach(self)
        self._finalizer = weakref.finalize(
            self, _collected, self.recorder, self._handles, self._tracker, self.probes
        )
        self._finalizer.atexit = False

    @classmethod
    def inert(cls) -> Sanitizer:
        """A sanitizer that watches nothing (what ``instrument`` returns under ``DLSAN_DISABLE=1``)."""
        self = cls.__new__(cls)
        self._init_state("record", 1, None, None)
        return self

    def _init_state(self, on_error: str, every: int, optimizer: Any, scaler: Any) -> None:
        self.on_error = on_error
        self.every = every
        self.optimizer = optimizer
        self.scaler = scaler
        #: replay a failing module's forward op by op to name the op and its source line
        self.replay = False
        self._router = Router()
        #: where user code instrumented the model (or called it, under dlsan run / pytest --dlsan)
        self._call_site: Location | None = caller_location()
        #: anything with ``add_scalar(tag, value, step)`` (a ``SummaryWriter``), or ``None``
        self.tensorboard = None
        self.probes = []
        self.contracts = {}
        self._findings: list[Finding] = []
        self._by_key: dict[tuple[Any, ...], Finding] = {}
        self._handles: list[Any] = []
        self._attached = False
        self._raising = True
        #: this process's ``torch.distributed`` rank when the sanitizer was built (else ``None``)
        self.rank = _distributed_rank()

    # -- public API ----------------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        return self._attached

    @property
    def step(self) -> int:
        """Training steps seen so far (see :mod:`dlsan.runtime.training` for what counts as one)."""
        return self._router.step

    @property
    def findings(self) -> list[Finding]:
        """Findings so far; pending checks (``every`` > 1) are run first, without raising."""
        self._flush(raising=False)
        return list(self._findings)

    def check(self) -> None:
        """Inspect now whatever ``every`` kept for later (applies ``on_error``)."""
        self._flush(raising=True)

    def remove(self) -> None:
        """Detach every hook and restore the optimizer and scaler.  Idempotent; never raises for
        findings (pending checks are recorded and warned about instead)."""
        if not self._attached:
            return
        try:
            self._flush(raising=False, warn=True)
        finally:
            self._attached = False
            self._finalizer.detach()
            _release(self.recorder, self._handles, self._tracker, self.probes)
            self._router.clear()

    def __enter__(self) -> Sanitizer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None and self._attached:
            try:
                self.check()
            finally:
                self.remove()
        else:
            self.remove()

    def report(self) -> str:
        """A human-readable summary: a table per finding kind, worst first, then the messages."""
        from dlsan.runtime.report import format_report

        return format_report(self)

    def plot(self, path: str | Path) -> Path:
        """Write a PNG of per-layer gradient norms over steps and dead-unit fractions per layer
        (needs matplotlib: ``pip install dlsan[plot]``); returns the path."""
        from dlsan.runtime.report import plot

        return plot(self, path)

    @contextmanager
    def watch(self) -> Iterator[Sanitizer]:
        """Let the probes that look inside torch calls (``broadcast``) see the block too, e.g. the
        loss: ``with san.watch(): loss = F.mse_loss(model(x), y)``."""
        with ExitStack() as stack:
            if self._attached:
                for probe in self.probes:
                    stack.enter_context(probe.watch())
            yield self

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: settings, findings and each probe's summary."""
        return {
            "step": self.step,
            "on_error": self.on_error,
            "every": self.every,
            "checks": [probe.name for probe in self.probes],
            "findings": [finding.to_dict() for finding in self.findings],
            "probes": {probe.name: probe.summary() for probe in self.probes},
        }

    # -- for probes ----------------------------------------------------------------------------

    @property
    def model(self) -> nn.Module:
        model = self._model_ref()
        if model is None:
            raise RuntimeError("the instrumented model no longer exists")
        return model

    def named_modules(self) -> list[tuple[str, nn.Module]]:
        """The instrumented modules as ``(qualified name, module)``, in the core's index order."""
        found = []
        for index, name in enumerate(self.table.names):
            module = self.table.module(index)
            if module is not None:
                found.append((name, module))
        return found

    def register_forward_hook(self, module: nn.Module, hook: Callable[..., Any], **kwargs: Any) -> Any:
        """``module.register_forward_hook`` whose handle :meth:`remove` removes; the hook is never
        called while dynamo traces, and runs eagerly where the module does inside a compiled call
        (:func:`~dlsan.runtime.compat.eager_only`).  Without ``kwargs``, on a module the core
        records with one hook after its call, the core's hook runs it
        (:meth:`~dlsan.runtime.recorder.Recorder.ride`): one Python hook per call however many
        probes watch the module."""
        handle: Any = None if kwargs else self.recorder.ride(module, hook)
        if handle is None:
            handle = module.register_forward_hook(eager_only(partial(_unless_compiling, hook)), **kwargs)
        self._handles.append(handle)
        return handle

    def register_input_hook(self, module: nn.Module, hook: Callable[..., Any]) -> Any:
        """``hook(module, args)`` or ``hook(module, args, output)`` (accept both) sees the
        positional inputs of every call of ``module``: from the core's hook after the call where
        the module leaves its inputs as they were (see :meth:`~dlsan.runtime.recorder.Recorder.ride`),
        else from a forward pre-hook.  For probes that read the inputs and need not run before the
        module does; never called while dynamo traces."""
        handle = self.recorder.ride(module, hook)
        if handle is None:
            return self.register_forward_pre_hook(module, hook)
        self._handles.append(handle)
        return handle

    def register_forward_pre_hook(self, module: nn.Module, hook: Callable[..., Any], **kwargs: Any) -> Any:
        """``module.register_forward_pre_hook`` whose handle :meth:`remove` removes (see
        :meth:`register_forward_hook`)."""
        handle = module.register_forward_pre_hook(eager_only(partial(_unless_compiling, hook)), **kwargs)
        self._handles.append(handle)
        return handle

    def unsubscribe(self, callback: Callable[..., None]) -> None:
        """No longer call ``callback``, one of a probe's event methods (``probe.on_step_end``...)."""
        self._router.unsubscribe(callback)

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        """Log ``dlsan/<tag>`` to the ``tensorboard=`` writer, if one was given."""
        if self.tensorboard is not None:
            self.tensorboard.add_scalar(f"dlsan/{tag}", value, step)

    def emit(self, finding: Finding, *, fatal: bool = True) -> None:
        """Record ``finding``; for fatal kinds apply ``on_error`` (raise / warn / record).

        In a distributed run the finding gets this process's rank, and its message says it, since
        each rank reports only what it saw itself (dlsan never communicates between ranks)."""
        if self.rank is not None and finding.rank is None:
            finding.rank = self.rank
            finding.message = f"[rank {self.rank}] {finding.message}"
        if finding.path is None:
            found = module_location(finding.module, self.table.names, self.table.module) or self._call_site
            if found is not None:
                finding.path, finding.line = found
        key = (finding.kind, finding.module, finding.phase, finding.details.get("origin"), finding.details.get("where"))
        first = self._by_key.get(key)
        if first is None:
            finding.details.setdefault("count", 1)
            self._by_key[key] = finding
            self._findings.append(finding)
        else:
            first.details["count"] = first.details.get("count", 1) + 1
            first.details["last_step"] = finding.step
        if fatal and self.on_error == "raise" and self._raising:
            __tracebackhide__ = True
            raise _ERRORS.get(finding.kind, SanitizerError)(finding) from finding.cause
        if first is None and (self.on_error == "warn" or (self.on_error == "raise" and not fatal)):
            warnings.warn(f"dlsan: {finding.message}", SanitizerWarning, stacklevel=2)

    def _flush(self, *, raising: bool, warn: bool = False) -> None:
        if not self._attached:
            return
        before = len(self._findings)
        self._raising = raising
        try:
            for probe in self.probes:
                probe.flush()
        finally:
            self._raising = True
        if warn and self.on_error != "record":
            for finding in self._findings[before:]:
                warnings.warn(f"dlsan: {finding.message}", SanitizerWarning, stacklevel=3)


def _unless_compiling(hook: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``hook`` unless dynamo is tracing (asked first: anything a hook reads while tracing
    becomes a guard), so that probes' hooks never need to ask."""
    if is_compiling():
        return None
    return hook(*args, **kwargs)


def _watched_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules to hook, by the user's names (see :func:`dlsan.runtime.names.user_name`).

    An ``nn.TransformerEncoderLayer`` inside the model is left unhooked, with everything in it:
    its fused inference path (eval mode without grad) runs only while no module in it has hooks,
    and instrumentation never changes which kernel runs.  Its enclosing modules are watched, so a
    NaN made inside it is named at the ``nn.TransformerEncoder`` (or whatever holds it)."""
    found: list[tuple[str, nn.Module]] = []
    fused: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix) for prefix in fused):
            continue
        if isinstance(module, nn.TransformerEncoderLayer) and module is not model:
            fused.append(name + ".")
            continue
        found.append((user_name(name), module))
    return found


def _parse_contracts(shapes: Mapping[str, str] | None, names: list[str]) -> dict[str, Contract]:
    if shapes is None:
        return {}
    if not isinstance(shapes, Mapping):
        raise ValueError("shapes must map module names to contracts, e.g. {'encoder': 'B T D -> B T D'}")
    known = set(names)
    contracts = {}
    for name, text in shapes.items():
        if name not in known:
            raise unknown_module("shapes", name, names)
        contracts[name] = parse_contract(name, text)
    return contracts


def _build_probes(
    checks: Iterable[str] | str | None, options: Mapping[str, Mapping[str, Any]] | None, has_contracts: bool
) -> list[Probe]:
    classes = probe_classes()
    if checks is None:
        selected = sorted(name for name, cls in classes.items() if cls.default)  # stable, whatever was imported first
    else:
        selected = [checks] if isinstance(checks, str) else list(checks)
        unknown = [name for name in selected if name not in classes]
        if unknown:
            raise ValueError(f"unknown check(s) {', '.join(map(repr, unknown))}; available: {_names(classes)}")
    if has_contracts and "shape" not in selected:
        selected.append("shape")
    options = dict(options or {})
    unknown = [name for name in options if name not in classes]
    if unknown:
        raise ValueError(f"options for unknown check(s) {', '.join(map(repr, unknown))}; available: {_names(classes)}")
    return [_probe(classes[name], options.get(name, {})) for name in dict.fromkeys(selected)]


def _probe(cls: type[Probe], options: Mapping[str, Any]) -> Probe:
    """``cls(**options)``, with unknown option names named as such (not a bare ``TypeError``)."""
    if not isinstance(options, Mapping):
        raise ValueError(f"options for {cls.name!r} must be a dict of keyword options, not {options!r}")
    parameters = inspect.signature(cls.__init__).parameters
    known = [name for name, p in parameters.items() if name != "self" and p.kind in _NAMED]
    unknown = [name for name in options if name not in known]
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        hint = ", ".join(map(repr, known)) if known else "none"
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for check {cls.name!r}; known: {hint}")
    return cls(**dict(options))


def _names(classes: Mapping[str, type[Probe]]) -> str:
    return ", ".join(sorted(classes))


def _distributed_rank() -> int | None:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else None


def _release(recorder: Recorder, handles: list[Any], tracker: StepTracker, probes: list[Probe]) -> None:
    recorder.remove()
    for handle in handles:
        handle.remove()
    handles.clear()
    tracker.remove()
    for probe in probes:
        probe.detach()


def _collected(recorder: Recorder, handles: list[Any], tracker: StepTracker, probes: list[Probe]) -> None:
    warnings.warn(
        "dlsan: a Sanitizer was garbage-collected while attached, so it stopped watching the model; "
        "keep a reference (san = dlsan.instrument(...)) or use it as a context manager",
        SanitizerWarning,
        stacklevel=2,
    )
    _release(recorder, handles, tracker, probes)
