"""`dlsan check --format sarif` validates against the official SARIF 2.1.0 JSON schema.

The schema (`data/sarif-schema-2.1.0.json`) is the OASIS file, shipped with the tests so that they
run offline.  jsonschema checks `uri`/`uri-reference` formats only when optional packages are
installed, so the test registers its own RFC 3986 checks: code scanning rejects an upload whose
artifact URIs do not parse.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))

# RFC 3986: unreserved / reserved characters and percent-escapes; a URI also starts with a scheme.
_URI_REFERENCE = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(jsonschema.Draft4Validator.FORMAT_CHECKER.checkers)
    checker.checks("uri-reference")(lambda value: not isinstance(value, str) or bool(_URI_REFERENCE.match(value)))
    checker.checks("uri")(lambda value: not isinstance(value, str)
                          or bool(_URI_REFERENCE.match(value) and _SCHEME.match(value)))
    return checker


VALIDATOR = jsonschema.Draft4Validator(SCHEMA, format_checker=_format_checker())


def _validated(output: str) -> dict[str, Any]:
    document = json.loads(output)
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message[:300]}" for e in errors)
    return document


def _results(document: dict[str, Any]) -> list[dict[str, Any]]:
    (run,) = document["runs"]
    return run["results"]


def _sarif(run_dlsan, *args: str, cwd: Path) -> tuple[int, dict[str, Any]]:
    result = run_dlsan("check", "--format", "sarif", "--no-cache", *args, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, _validated(result.stdout)


def test_the_shipped_schema_is_the_sarif_2_1_0_schema():
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["version"]["enum"] == ["2.1.0"]
    assert {"run", "result", "reportingDescriptor", "region"} <= set(SCHEMA["definitions"])


def test_the_validator_rejects_what_code_scanning_rejects():
    """The checks above have teeth: a broken document does not pass."""
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "dlsan"}}, "results": [
        {"message": {"text": "m"}, "level": "fatal",
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a b#c.py"},
                                             "region": {"startLine": 0}}}]}]}]}
    messages = " ".join(error.message for error in VALIDATOR.iter_errors(broken))
    assert "'fatal' is not one of" in messages
    assert "is not a 'uri-reference'" in messages
    assert "less than the minimum" in messages


def test_fixtures_with_findings_validate(run_dlsan):
    code, document = _sarif(run_dlsan, "fixtures", cwd=REPO)
    assert code == 1
    results = _results(document)
    assert results
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids))
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.startswith("fixtures/") and (REPO / uri).is_file()
    for rule in rules[1:]:
        assert "## Why is this bad?" in rule["fullDescription"]["text"]


def test_parse_errors_validate_as_dls000(run_dlsan, tmp_path):
    (tmp_path / "broken.py").write_text("def train(:\n    pass\n")
    (tmp_path / "latin1.py").write_bytes("# caf\xe9\nimport torch\n".encode("latin-1"))
    (tmp_path / "empty.py").write_text("")  # valid Python: no finding
    (tmp_path / "ok.py").write_text("import torch\nstate = torch.load('last.pt')\n")
    code, document = _sarif(run_dlsan, ".", cwd=tmp_path)
    assert code == 1
    found = sorted((r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["ruleId"])
                   for r in _results(document))
    assert found == [("broken.py", "DLS000"), ("latin1.py", "DLS000"), ("ok.py", "DLS602")]


def test_no_findings_validate_with_an_empty_result_list(run_dlsan, tmp_path):
    (tmp_path / "clean.py").write_text("import torch\nstate = torch.load('last.pt', weights_only=True)\n")
    code, document = _sarif(run_dlsan, ".", cwd=tmp_path)
    assert code == 0
    assert _results(document) == []
    assert document["runs"][0]["tool"]["driver"]["rules"]


def test_odd_file_names_become_valid_uris(run_dlsan, tmp_path):
    """Spaces, `#`, `%` and non-ASCII letters in paths are percent-encoded, relative or absolute."""
    weird = tmp_path / "exp #2 (50%)" / "módel train.py"
    weird.parent.mkdir()
    weird.write_text("import torch\nstate = torch.load('last.pt')\n")
    code, document = _sarif(run_dlsan, ".", cwd=tmp_path)
    assert code == 1
    (result,) = _results(document)
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "exp%20%232%20(50%25)/m%C3%B3del%20train.py")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    try:
        code, document = _sarif(run_dlsan, str(weird), cwd=outside)
        (result,) = _results(document)
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.startswith("file:///") and uri.endswith("/m%C3%B3del%20train.py")
    finally:
        shutil.rmtree(outside)


@pytest.mark.parametrize("select", ["DLS602", "ALL"])
def test_selection_keeps_rule_indices_consistent(run_dlsan, tmp_path, select):
    (tmp_path / "train.py").write_text(
        "import torch\nstate = torch.load('c.pt')\nopt = torch.optim.Adam(params, weight_decay=1e-4)\n")
    _, document = _sarif(run_dlsan, "--select", select, ".", cwd=tmp_path)
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    for result in _results(document):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
