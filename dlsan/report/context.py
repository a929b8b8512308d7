"""What a reporter may read besides the findings: rule classes, source lines, whether to colour."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dlsan.report.sources import SourceLines

if TYPE_CHECKING:  # rule classes import libcst, which a warm cached run never needs
    from dlsan.lint.rule import Rule


@dataclass
class RenderContext:
    #: the rules' classes, for formats that describe rules (SARIF); empty for the others
    rules: Sequence[type[Rule]] = ()
    sources: SourceLines = field(default_factory=SourceLines)
    color: bool = False
