"""``path:line:col: CODE [*] message``; ``[*]`` marks findings that ``--fix`` can repair."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dlsan.lint.finding import LintFinding

if TYPE_CHECKING:  # rule classes import libcst, which a warm cached run never needs
    from dlsan.lint.rule import Rule


def render(findings: Sequence[LintFinding], rules: Sequence[type[Rule]]) -> str:
    lines = []
    for f in findings:
        marker = " [*]" if f.fix is not None and f.fix.applicability == "safe" else ""
        lines.append(f"{f.path}:{f.line}:{f.column}: {f.code}{marker} {f.message}")
    return "\n".join(lines) + ("\n" if lines else "")


def summary(findings: Sequence[LintFinding], files: int) -> str:
    """The closing line printed on stderr."""
    if not findings:
        return f"All checks passed ({files} file{'s' if files != 1 else ''} checked)."
    safe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "safe")
    unsafe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "unsafe")
    text = f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} in {files} file{'s' if files != 1 else ''} checked."
    if safe:
        text += f"\n[*] {safe} fixable with `dlsan check --fix`."
    if unsafe:
        text += f"\n{unsafe} more fixable with `--fix --unsafe-fixes`."
    return text
