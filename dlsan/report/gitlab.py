"""GitLab Code Quality: a JSON array of issues (``description``, ``check_name``, ``fingerprint``,
``severity``, ``location.path`` and ``location.lines.begin``), as the ``codequality`` report
artifact reads them.

The fingerprint identifies a finding across commits: it hashes the path, the code, the message and
the text of the finding's line (not its number, so code moving above it keeps it the same), plus
which occurrence it is among identical ones.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from dlsan.lint.finding import LintFinding
from dlsan.report.context import RenderContext
from dlsan.report.sources import cell_note


def _line_text(finding: LintFinding, context: RenderContext) -> str:
    lines = context.sources.lines(finding)
    return lines[finding.line - 1].strip() if lines is not None and finding.line <= len(lines) else ""


def render(findings: Sequence[LintFinding], context: RenderContext) -> str:
    seen: Counter[str] = Counter()
    issues: list[dict[str, Any]] = []
    for f in findings:
        identity = "\0".join([f.path, str(f.cell), f.code, f.message, _line_text(f, context)])
        seen[identity] += 1
        fingerprint = hashlib.sha256(f"{identity}\0{seen[identity]}".encode()).hexdigest()
        issues.append({
            "description": f"{cell_note(f)}{f.code} {f.message}",
            "check_name": f"{f.code} {f.name}",
            "fingerprint": fingerprint,
            "severity": "major",
            "location": {"path": f.path, "lines": {"begin": context.sources.file_line(f)}},
        })
    return json.dumps(issues, indent=2) + "\n"
