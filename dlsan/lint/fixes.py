"""Applying fixes: text edits, non-overlapping, re-linted until stable, never unparsable.

Each round applies every applicable fix whose edits do not overlap an earlier one, then lints the
result again: fixes skipped for overlapping get their turn next round.  Rounds stop when nothing
changes (bounded by ``MAX_ROUNDS``).  A round whose result no longer parses is thrown away, so
``--fix`` never writes a file that stops parsing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dlsan.lint.engine import RuleSelection, checked_parse, cpython_compiles, lint_module, lint_source
from dlsan.lint.finding import Fix, LintFinding
from dlsan.lint.text import line_starts, offset

MAX_ROUNDS = 10


@dataclass(frozen=True)
class FixResult:
    source: str
    applied: int
    findings: list[LintFinding]
    #: why fixing stopped early (a fix that would break the file), else None
    problem: str | None = None


def applicable(finding: LintFinding, unsafe: bool) -> bool:
    return finding.fix is not None and (unsafe or finding.fix.applicability == "safe")


def apply_edits(source: str, fixes: Iterable[Fix]) -> tuple[str, int]:
    """Apply the fixes that do not overlap one another; returns the new text and how many applied."""
    starts = line_starts(source)
    spans: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []
    applied = 0
    for fix in fixes:
        edits = [
            (offset(starts, e.line, e.column), offset(starts, e.end_line, e.end_column), e.content)
            for e in fix.edits
        ]
        if any(_overlaps(start, end, taken) for start, end, _ in edits):
            continue
        taken.extend((start, end) for start, end, _ in edits)
        spans.extend(edits)
        applied += 1
    for start, end, content in sorted(spans, key=lambda span: (span[0], span[1]), reverse=True):
        source = source[:start] + content + source[end:]
    return source, applied


def _overlaps(start: int, end: int, taken: list[tuple[int, int]]) -> bool:
    return any(start < other_end and other_start < end or start == end == other_start
               for other_start, other_end in taken)


def fix_source(
    path: str,
    source: str,
    selection: RuleSelection,
    *,
    unsafe: bool,
    findings: list[LintFinding] | None = None,
) -> FixResult:
    """Apply fixes to ``source`` until none applies; ``findings`` are its findings when the
    caller already has them (saves a parse)."""
    if findings is None:
        findings = lint_source(path, source, selection)
    applied_total = 0
    for _ in range(MAX_ROUNDS):
        fixes = [f.fix for f in findings if applicable(f, unsafe) and f.fix is not None]
        if not fixes:
            break
        new_source, applied = apply_edits(source, fixes)
        if applied == 0 or new_source == source:
            break
        # one parse both proves the fixed text still parses and feeds the next round's rules
        module = checked_parse(path, new_source)
        if isinstance(module, LintFinding):
            return FixResult(source, applied_total, findings,
                             problem=f"a fix would make the file unparsable ({module.message}); not applied")
        if cpython_compiles(source) and not cpython_compiles(new_source):
            return FixResult(source, applied_total, findings,
                             problem="a fix would make the file fail to compile; not applied")
        source, applied_total = new_source, applied_total + applied
        findings = lint_module(path, source, module, selection)
    return FixResult(source, applied_total, findings)
