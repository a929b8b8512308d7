"""Training sanity checks to run before a long run: :func:`sanity_check`.

Layout: :mod:`.api` (the entry point and :class:`SanityReport`), :mod:`.session` (the copies,
the batch and the training runs the checks share), :mod:`.loss` (the functional losses
``loss_fn`` calls, seen from inside), :mod:`.batch` (walking the batch), :mod:`.rng` (restoring
every generator), :mod:`.thresholds` (every number, with its source) and ``checks/`` (one module
per check).
"""

from __future__ import annotations

from dlsan.runtime.sanity.api import CHECKS, SanityReport, sanity_check

__all__ = ["CHECKS", "SanityReport", "sanity_check"]
