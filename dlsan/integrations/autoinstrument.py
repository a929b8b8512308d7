"""Instrument every model as it is first called: what ``pytest --dlsan`` runs around each test.

A test builds its models itself, so there is nothing to hand to :func:`dlsan.instrument` up front.
While :class:`AutoInstrument` is active, ``nn.Module.__call__`` is wrapped: the first time a
module is called from outside any other module call (a *root*: the model the test runs), it is
instrumented with its sub-modules, so a NaN is named by the layer's name inside that model.
Calling a sub-module of a watched model directly is seen by the model's hooks and adds nothing;
calling a larger model that contains a watched one replaces the smaller sanitizer by one for the
larger model.  A global forward pre-hook would not do: PyTorch snapshots a call's hooks before
running the global ones, so a model instrumented from there would miss its first call.
"""

from __future__ import annotations

import threading
import weakref
from types import TracebackType
from typing import Any, Callable

from torch import nn

from dlsan.runtime.api import instrument
from dlsan.runtime.sanitizer import Sanitizer


class _Depth(threading.local):
    value = 0


class AutoInstrument:
    """Context manager; ``options`` are passed to :func:`dlsan.instrument` for every root, with
    what ``options_for(root)`` adds (``dlsan run`` gives each root the optimizers that train it)."""

    def __init__(self, options_for: Callable[[nn.Module], dict[str, Any]] | None = None, **options: Any) -> None:
        self.options = options
        self._options_for = options_for
        #: sanitizers detached when a larger model took over theirs (their findings stay readable)
        self.retired: list[Sanitizer] = []
        self._watched: list[tuple[weakref.ref[nn.Module], Sanitizer]] = []
        self._covered: weakref.WeakSet[nn.Module] = weakref.WeakSet()
        self._depth = _Depth()
        self._original: Callable[..., Any] | None = None

    def __enter__(self) -> AutoInstrument:
        original = self._original = nn.Module.__call__
        watcher_ref = weakref.ref(self)
        depth = self._depth

        def __call__(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
            watcher = watcher_ref()
            if watcher is not None and depth.value == 0 and module not in watcher._covered:
                watcher._watch(module)
            depth.value += 1
            try:
                return original(module, *args, **kwargs)
            finally:
                depth.value -= 1

        nn.Module.__call__ = __call__  # type: ignore[method-assign]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Restore ``nn.Module.__call__`` and detach every sanitizer (idempotent)."""
        if self._original is not None:
            nn.Module.__call__ = self._original  # type: ignore[method-assign]
            self._original = None
        watched, self._watched = self._watched, []
        for _, san in watched:
            san.remove()
        self._covered = weakref.WeakSet()

    @property
    def sanitizers(self) -> list[Sanitizer]:
        """One per watched model, in the order they were first called."""
        return [san for _, san in self._watched]

    def _watch(self, root: nn.Module) -> None:
        inside = set(map(id, root.modules()))
        keep = []
        for model_ref, san in self._watched:
            if model_ref() is None or id(model_ref()) in inside:
                san.remove()  # gone, or the larger model now watches it, under its own names
                self.retired.append(san)
            else:
                keep.append((model_ref, san))
        extra = self._options_for(root) if self._options_for is not None else {}
        self._watched = [*keep, (weakref.ref(root), instrument(root, **{**self.options, **extra}))]
        self._covered.update(root.modules())
