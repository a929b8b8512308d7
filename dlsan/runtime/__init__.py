"""dlsan's runtime sanitizer: ``instrument(model)`` watches a PyTorch model while it runs.

It names the first layer that produced a NaN/Inf (forward and backward), checks declared shape
contracts, and leaves a loss scaler's intentionally skipped steps alone, without synchronising
the device inside hooks and without changing a single bit of the computation.

Layout: :mod:`~dlsan.runtime.api` (``instrument``), :mod:`~dlsan.runtime.sanitizer` (the
``Sanitizer`` hub), :mod:`~dlsan.runtime.recorder` and :mod:`~dlsan.runtime.tape` (the hooks and
what they record), :mod:`~dlsan.runtime.probe` (the interface every check implements) and
``dlsan/runtime/probes/`` (one module per check).  Importing this package imports torch.
"""

from __future__ import annotations

from dlsan.runtime.api import instrument
from dlsan.runtime.findings import Finding, NonFiniteError, SanitizerError, SanitizerWarning, ShapeError
from dlsan.runtime.probe import Probe, register_probe
from dlsan.runtime.sanitizer import Sanitizer

__all__ = [
    "Finding",
    "NonFiniteError",
    "Probe",
    "Sanitizer",
    "SanitizerError",
    "SanitizerWarning",
    "ShapeError",
    "instrument",
    "register_probe",
]
