"""SARIF 2.1.0 for code-scanning upload: one ``tool.driver.rules`` entry per rule, its docs as
``fullDescription`` and ``help`` and its page as ``helpUri``, and one result per finding, with its
fix as a SARIF ``fixes`` entry.

A notebook finding's region is the line of the ``.ipynb`` file that stores its cell line (SARIF
knows no cells); the cell, line and column go in the message and in ``properties``.  Its fix, in
cell coordinates, has no SARIF form and is left out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dlsan.__about__ import __version__
from dlsan.lint.finding import PARSE_ERROR_CODE, PARSE_ERROR_NAME, Fix, LintFinding
from dlsan.report.context import RenderContext
from dlsan.report.links import HOMEPAGE, rule_url
from dlsan.report.sources import cell_note

if TYPE_CHECKING:  # rule classes import libcst, which a warm cached run never needs
    from dlsan.lint.rule import Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _rule_entry(rule: type[Rule]) -> dict[str, Any]:
    docs = rule.docs()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary() or rule.message},
        "fullDescription": {"text": docs},
        "help": {"text": docs, "markdown": docs},
        "helpUri": rule_url(rule.code),
        "defaultConfiguration": {"level": "error"},
        "properties": {"fixable": rule.fixable()},
    }


_PARSE_ERROR_ENTRY = {
    "id": PARSE_ERROR_CODE,
    "name": PARSE_ERROR_NAME,
    "shortDescription": {"text": "The file could not be read or parsed as Python."},
    "fullDescription": {"text": "The file is not UTF-8, not valid Python or not a valid notebook; "
                                "no rule ran on it."},
    "helpUri": rule_url(PARSE_ERROR_CODE),
    "defaultConfiguration": {"level": "error"},
}


# RFC 3986 sub-delims and "@" may stay as they are in a path; ":" may not in a relative
# reference's first segment (it would read as a scheme), so it is escaped like the rest.
_PATH_SAFE = "/!$&'()*+,;=@"


def _uri(path: str) -> str:
    """A valid RFC 3986 URI reference: ``file://`` for absolute paths, else the percent-encoded
    relative path (a space, ``#``, ``?``, ``%`` or non-ASCII letter in a file name would otherwise
    make the ``uri-reference`` invalid or change its meaning)."""
    candidate = Path(path)
    return candidate.as_uri() if candidate.is_absolute() else quote(candidate.as_posix(), safe=_PATH_SAFE)


def _region(finding: LintFinding, context: RenderContext) -> dict[str, int]:
    if finding.cell is not None:
        return {"startLine": context.sources.file_line(finding)}
    return {"startLine": finding.line, "startColumn": finding.column,
            "endLine": finding.end_line, "endColumn": finding.end_column}


def _fix(fix: Fix, path: str) -> dict[str, Any]:
    return {
        "description": {"text": fix.message},
        "artifactChanges": [{
            "artifactLocation": {"uri": _uri(path)},
            "replacements": [{
                "deletedRegion": {"startLine": e.line, "startColumn": e.column,
                                  "endLine": e.end_line, "endColumn": e.end_column},
                "insertedContent": {"text": e.content},
            } for e in fix.edits],
        }],
    }


def _result(finding: LintFinding, index: int, context: RenderContext) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": "error",
        "message": {"text": f"{cell_note(finding)}{finding.message}"},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": _uri(finding.path)},
                "region": _region(finding, context),
            }
        }],
    }
    if finding.cell is not None:
        result["properties"] = {"cell": finding.cell, "cellLine": finding.line, "cellColumn": finding.column}
    elif finding.fix is not None:
        result["fixes"] = [_fix(finding.fix, finding.path)]
    return result


def render(findings: Sequence[LintFinding], context: RenderContext) -> str:
    entries = [_PARSE_ERROR_ENTRY, *(_rule_entry(rule) for rule in context.rules)]
    index = {entry["id"]: i for i, entry in enumerate(entries)}
    results = [_result(f, index[f.code], context) for f in findings if f.code in index]
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "dlsan", "version": __version__,
                                "informationUri": HOMEPAGE, "rules": entries}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }
    return json.dumps(document, indent=2) + "\n"
