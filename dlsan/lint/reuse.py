"""What the lint of one version of a document keeps for the lint of its next version (the language
server's path): the parsed chunks, and the scopes of the top-level definitions.

Each part is reused only where it is provably what a fresh lint would compute (see
:class:`~dlsan.lint.incremental.IncrementalParser` and
:class:`~dlsan.lint.semantic.scopes.ScopeReuse`); the findings are always computed afresh from
them, so they are a fresh lint's (tests/lint/test_incremental.py holds the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlsan.lint.incremental import IncrementalParser
from dlsan.lint.semantic.scopes import ScopeReuse


@dataclass
class DocumentReuse:
    """One document's memory across versions (one per open document)."""

    parser: IncrementalParser = field(default_factory=IncrementalParser)
    scopes: ScopeReuse = field(default_factory=ScopeReuse)
