"""``--statistics``: one row per rule, with how many of its findings ``--fix`` can repair.

``[*]`` marks a rule with findings that a plain ``--fix`` repairs (safe fixes); ``[-]`` one whose
findings have only unsafe fixes (``--fix --unsafe-fixes``).  ``--format json`` gives the same rows
as a JSON array of ``{code, name, count, safe_fixes, unsafe_fixes}``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from dlsan.lint.finding import LintFinding


@dataclass(frozen=True)
class RuleCount:
    code: str
    name: str
    count: int
    safe_fixes: int
    unsafe_fixes: int

    @property
    def marker(self) -> str:
        return "[*]" if self.safe_fixes else "[-]" if self.unsafe_fixes else "   "


def counts(findings: Sequence[LintFinding]) -> list[RuleCount]:
    """Rows by descending count, then code."""
    total = Counter((f.code, f.name) for f in findings)
    safe = Counter(f.code for f in findings if f.fix is not None and f.fix.applicability == "safe")
    unsafe = Counter(f.code for f in findings if f.fix is not None and f.fix.applicability == "unsafe")
    return [RuleCount(code, name, count, safe[code], unsafe[code])
            for (code, name), count in sorted(total.items(), key=lambda item: (-item[1], item[0]))]


def render_text(findings: Sequence[LintFinding]) -> str:
    rows = counts(findings)
    lines = [f"{row.count:>5}  {row.code}  {row.marker}  {row.name}" for row in rows]
    return "\n".join(lines) + ("\n" if lines else "")


def render_json(findings: Sequence[LintFinding]) -> str:
    return json.dumps([asdict(row) for row in counts(findings)], indent=2) + "\n"
