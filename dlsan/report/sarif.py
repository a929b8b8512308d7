"""SARIF 2.1.0 for code-scanning upload: one ``tool.driver.rules`` entry per rule, its docs as
``fullDescription`` and ``help``, and one result per finding."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dlsan.__about__ import __version__
from dlsan.lint.finding import PARSE_ERROR_CODE, PARSE_ERROR_NAME, LintFinding

if TYPE_CHECKING:  # rule classes import libcst, which a warm cached run never needs
    from dlsan.lint.rule import Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/dlsan/dlsan"


def _rule_entry(rule: type[Rule]) -> dict[str, Any]:
    docs = rule.docs()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary() or rule.message},
        "fullDescription": {"text": docs},
        "help": {"text": docs, "markdown": docs},
        "defaultConfiguration": {"level": "error"},
        "properties": {"fixable": rule.fixable()},
    }


_PARSE_ERROR_ENTRY = {
    "id": PARSE_ERROR_CODE,
    "name": PARSE_ERROR_NAME,
    "shortDescription": {"text": "The file could not be read or parsed as Python."},
    "fullDescription": {"text": "The file is empty, not UTF-8, or not valid Python; no rule ran on it."},
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


def render(findings: Sequence[LintFinding], rules: Sequence[type[Rule]]) -> str:
    entries = [_PARSE_ERROR_ENTRY, *(_rule_entry(rule) for rule in rules)]
    index = {entry["id"]: i for i, entry in enumerate(entries)}
    results = []
    for f in findings:
        if f.code not in index:
            continue
        results.append({
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "error",
            "message": {"text": f.message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(f.path)},
                    "region": {"startLine": f.line, "startColumn": f.column,
                               "endLine": f.end_line, "endColumn": f.end_column},
                }
            }],
        })
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "dlsan", "version": __version__,
                                "informationUri": INFORMATION_URI, "rules": entries}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }
    return json.dumps(document, indent=2) + "\n"
