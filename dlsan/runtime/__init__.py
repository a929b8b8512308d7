"""dlsan's runtime sanitizer: ``instrument(model)`` watches a PyTorch model while it runs.

It names the first layer that produced a NaN/Inf (forward and backward), checks declared shape
contracts, and leaves a loss scaler's intentionally skipped steps alone, without synchronising
the device inside hooks and without changing a single bit of the computation.

Layout: :mod:`~dlsan.runtime.api` (``instrument``), :mod:`~dlsan.runtime.sanitizer` (the
``Sanitizer`` hub), :mod:`~dlsan.runtime.recorder` and :mod:`~dlsan.runtime.tape` (the hooks and
what they record), :mod:`~dlsan.runtime.probe` (the interface every check implements) and
``dlsan/runtime/probes/`` (one module per check).  :mod:`~dlsan.runtime.codes` (the ``DLS8xx``
codes and their docs) and :mod:`~dlsan.runtime.findings` never import torch, so ``dlsan explain``
and the reporters read them without it; the names below import torch on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlsan.lazy import lazy_getattr

if TYPE_CHECKING:  # pragma: no cover - for type checkers only (explicit re-exports)
    from dlsan.runtime.api import instrument as instrument
    from dlsan.runtime.findings import Finding as Finding
    from dlsan.runtime.findings import NonFiniteError as NonFiniteError
    from dlsan.runtime.findings import SanitizerError as SanitizerError
    from dlsan.runtime.findings import SanitizerWarning as SanitizerWarning
    from dlsan.runtime.findings import ShapeError as ShapeError
    from dlsan.runtime.probe import Probe as Probe
    from dlsan.runtime.probe import register_probe as register_probe
    from dlsan.runtime.sanitizer import Sanitizer as Sanitizer

_LAZY = {
    "Finding": "dlsan.runtime.findings",
    "NonFiniteError": "dlsan.runtime.findings",
    "Probe": "dlsan.runtime.probe",
    "Sanitizer": "dlsan.runtime.sanitizer",
    "SanitizerError": "dlsan.runtime.findings",
    "SanitizerWarning": "dlsan.runtime.findings",
    "ShapeError": "dlsan.runtime.findings",
    "instrument": "dlsan.runtime.api",
    "register_probe": "dlsan.runtime.probe",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr("dlsan.runtime", globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
