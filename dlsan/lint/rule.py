"""The rule base class: one self-documenting class per file in ``rules/``.

A rule is a visitor with ``visit_<NodeType>`` / ``leave_<NodeType>`` methods (libcst node type
names).  The engine instantiates every selected rule once per file and walks the tree once for all
of them.  A rule reads the shared :class:`~dlsan.lint.context.FileContext` (``self.context``) and
calls :meth:`Rule.report`; it never prints, reads files or config.

Its class carries everything the tool says about it::

    class AdamWeightDecay(Rule):
        '''## What it does ... ## Why is this bad? ... ## Example ... ## Use instead ...'''

        code = "DLS501"
        name = "adam-weight-decay"
        message = "what is wrong, why, what to write instead"
        VALID = [Valid("...")]
        INVALID = [Invalid("...", line=3, fixed="...")]

The docstring feeds ``dlsan explain``, the README table and SARIF descriptions; ``VALID`` and
``INVALID`` become one test each; ``fixable`` is derived from the examples (an ``Invalid`` with
``fixed=``), as Fixit does.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Union

import libcst as cst

from dlsan.documented import Documented
from dlsan.lint.finding import Applicability

if TYPE_CHECKING:
    from dlsan.lint.context import FileContext

DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead")
FIX_SECTION = "Fix safety"

#: a rule code: letters then digits; ``DLSnnn`` is reserved for built-in rules (see registry)
_CODE_RE = re.compile(r"^[A-Z]+[0-9]+$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Valid:
    """Code on which the rule must stay quiet (with the rule's ``options`` set, when given)."""

    code: str
    options: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def source(self) -> str:
        return textwrap.dedent(self.code).lstrip("\n")


@dataclass(frozen=True)
class Invalid:
    """Code the rule must flag; ``line`` pins the finding, ``fixed`` the result of its fix,
    ``options`` the rule's options it needs."""

    code: str
    line: int | None = None
    fixed: str | None = None
    options: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def source(self) -> str:
        return textwrap.dedent(self.code).lstrip("\n")

    @property
    def fixed_source(self) -> str | None:
        return None if self.fixed is None else textwrap.dedent(self.fixed).lstrip("\n")


@dataclass(frozen=True)
class Replace:
    """Replace ``node``'s source (without its surrounding parentheses) with ``text``."""

    node: cst.CSTNode
    text: str


@dataclass(frozen=True)
class InsertBefore:
    node: cst.CSTNode
    text: str


@dataclass(frozen=True)
class InsertAfter:
    node: cst.CSTNode
    text: str


EditSpec = Union[Replace, InsertBefore, InsertAfter]


@dataclass(frozen=True)
class FixSpec:
    """A fix as a rule describes it, in terms of nodes; the engine turns it into text edits."""

    message: str
    edits: Sequence[EditSpec]
    applicability: Applicability | None = None


@dataclass
class Report:
    node: cst.CSTNode
    message: str
    fix: FixSpec | None = None


class Rule(Documented):
    """Base class of every lint rule; see the module docstring."""

    #: default applicability of this rule's fixes ("safe" or "unsafe"); a report may override it.
    fix_applicability: ClassVar[Applicability] = "unsafe"
    #: the prefilter: a file that contains none of these strings cannot match this rule and is
    #: not parsed for it.
    requires: ClassVar[tuple[str, ...]] = ("torch",)
    #: option name -> default value; users set them under [tool.dlsan.rule-options.<code>].
    options: ClassVar[dict[str, Any]] = {}
    #: True for a rule about a value that is thrown away: in a notebook, a cell's last expression
    #: is shown as the cell's output, so a finding on it is dropped.
    output_is_a_use: ClassVar[bool] = False
    VALID: ClassVar[Sequence[Valid]] = ()
    INVALID: ClassVar[Sequence[Invalid]] = ()

    def __init__(self, context: FileContext, settings: dict[str, Any] | None = None) -> None:
        self.context = context
        self.settings = {**self.options, **(settings or {})}
        self.reports: list[Report] = []

    def report(
        self,
        node: cst.CSTNode,
        message: str | None = None,
        *,
        fix: FixSpec | None = None,
    ) -> None:
        self.reports.append(Report(node=node, message=message or self.message, fix=fix))

    # -- documentation -----------------------------------------------------------------------

    @classmethod
    def fixable(cls) -> bool:
        return any(example.fixed is not None for example in cls.INVALID)

    @classmethod
    def problems(cls) -> list[str]:
        """What is wrong with this rule's declaration (checked by the meta-test and discovery)."""
        found: list[str] = []
        if not _CODE_RE.match(getattr(cls, "code", "")):
            found.append(f"code {getattr(cls, 'code', None)!r} is not letters then digits (DLS601, ACME101)")
        if not _NAME_RE.match(getattr(cls, "name", "")):
            found.append(f"name {getattr(cls, 'name', None)!r} is not kebab-case")
        if not getattr(cls, "message", ""):
            found.append("message is empty")
        sections = cls.doc_sections()
        for title in DOC_SECTIONS:
            if not sections.get(title):
                found.append(f"docstring lacks a '## {title}' section")
        if cls.fixable() and not sections.get(FIX_SECTION):
            found.append(f"fixable rule's docstring lacks a '## {FIX_SECTION}' section")
        if not cls.VALID or not cls.INVALID:
            found.append("needs VALID and INVALID examples")
        return found

