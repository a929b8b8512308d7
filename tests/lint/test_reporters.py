"""Each output format against golden files (regenerate with DLSAN_REGENERATE_GOLDEN=1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dlsan.__about__ import __version__
from dlsan.lint.engine import RuleSelection, lint_source
from dlsan.lint.registry import all_rules
from dlsan.report import RENDERERS
from dlsan.report.statistics import render_text as statistics
from dlsan.report.text import summary

GOLDEN = Path(__file__).parent / "golden"
SOURCE = (
    "import torch\n"
    "from torch import optim\n\n"
    "ckpt = torch.load('ckpt.pt', map_location='cpu')\n"
    "opt = optim.Adam(model.parameters(), lr=1e-3,\n"
    "                 weight_decay=1e-4)\n"
)
RULES = [rule for rule in all_rules() if rule.code in ("DLS501", "DLS602")]


def _findings():
    # before PyTorch 2.6, where DLS602 flags (and fixes) a torch.load without weights_only=
    return lint_source("src/train,v1.py", SOURCE, RuleSelection(RULES, {"DLS602": {"target-torch-version": "2.5"}}))


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_golden(fmt):
    rendered = RENDERERS[fmt](_findings(), RULES).replace(__version__, "VERSION")
    path = GOLDEN / f"findings.{fmt}"
    if os.environ.get("DLSAN_REGENERATE_GOLDEN"):
        path.write_text(rendered)
    assert rendered == path.read_text()


def test_json_keys_follow_the_contract():
    (first, *_) = json.loads(RENDERERS["json"](_findings(), RULES))
    assert list(first) == ["path", "line", "column", "end_line", "end_column", "code", "name", "message", "fix"]


def test_multiline_finding_spans_lines():
    adam = next(f for f in _findings() if f.code == "DLS501")
    assert (adam.line, adam.end_line) == (5, 6)


def test_sarif_has_one_rule_entry_per_rule_with_docs():
    document = json.loads(RENDERERS["sarif"](_findings(), RULES))
    assert document["version"] == "2.1.0"
    driver = document["runs"][0]["tool"]["driver"]
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == ["DLS000", "DLS501", "DLS602"]
    assert "## Why is this bad?" in driver["rules"][1]["fullDescription"]["text"]
    for result in document["runs"][0]["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_github_escapes_properties():
    line = RENDERERS["github"](_findings(), RULES).splitlines()[0]
    assert line.startswith("::error title=dlsan (DLS602),file=src/train%2Cv1.py,line=4,col=8,")


def test_summary_and_statistics():
    findings = _findings()
    assert summary(findings, 1).startswith("Found 2 findings in 1 file checked.")
    assert summary([], 3) == "All checks passed (3 files checked)."
    # both rules' fixes are unsafe: a plain --fix repairs neither, so neither gets [*]
    assert statistics(findings).split() == ["1", "DLS501", "[-]", "adam-weight-decay",
                                            "1", "DLS602", "[-]", "torch-load-without-weights-only"]
