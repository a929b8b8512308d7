"""The split audit: :func:`audit_split`.

Layout: :mod:`.api` (the entry point and :class:`SplitReport`), :mod:`.sources` (every kind of
split as rows of fields, read in chunks), :mod:`.keys` (``labels=``/``groups=``/``time=``),
:mod:`.hashing` (content digests), :mod:`.scan` (one streaming pass per split) and ``checks/``
(one module per check).
"""

from __future__ import annotations

from dlsan.runtime.split.api import CHECKS, SplitReport, audit_split

__all__ = ["CHECKS", "SplitReport", "audit_split"]
