"""Each output format against golden files (regenerate with DLSAN_REGENERATE_GOLDEN=1), and the
text format's source excerpt on tabs, wide characters, CRLF and spans over several lines."""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.etree import ElementTree

import pytest

from dlsan.__about__ import __version__
from dlsan.lint.engine import RuleSelection, lint_source
from dlsan.lint.finding import LintFinding
from dlsan.lint.notebook_lint import lint_notebook
from dlsan.lint.notebooks import parse_notebook
from dlsan.lint.registry import all_rules
from dlsan.report import RENDERERS, RenderContext
from dlsan.report.links import rule_url
from dlsan.report.sources import SourceLines
from dlsan.report.statistics import render_text as statistics
from dlsan.report.text import render_full, summary

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
PATH = "src/train,v1.py"
NOTEBOOK = "notebooks/leaky.ipynb"
SOURCE = (
    "import torch\n"
    "from torch import optim\n\n"
    "ckpt = torch.load('ckpt.pt', map_location='cpu')\n"
    "opt = optim.Adam(model.parameters(), lr=1e-3,\n"
    "                 weight_decay=1e-4)\n"
)
NOTEBOOK_TEXT = (REPO / "fixtures" / "notebooks" / "leaky.ipynb").read_text(encoding="utf-8")
RULES = [rule for rule in all_rules() if rule.code in ("DLS101", "DLS401", "DLS501", "DLS602")]
# before PyTorch 2.6, where DLS602 flags (and fixes) a torch.load without weights_only=
SELECTION = RuleSelection(RULES, {"DLS602": {"target-torch-version": "2.5"}})


def _findings() -> list[LintFinding]:
    return [*lint_source(PATH, SOURCE, SELECTION), *lint_notebook(NOTEBOOK, parse_notebook(NOTEBOOK_TEXT), SELECTION)]


def _context(color: bool = False) -> RenderContext:
    return RenderContext(RULES, SourceLines({PATH: SOURCE, NOTEBOOK: NOTEBOOK_TEXT}), color)


def _render(fmt: str) -> str:
    return RENDERERS[fmt](_findings(), _context())


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_golden(fmt):
    rendered = _render(fmt).replace(__version__, "VERSION")
    path = GOLDEN / f"findings.{fmt}"
    if os.environ.get("DLSAN_REGENERATE_GOLDEN"):
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_no_findings_is_well_formed_and_every_text_ends_with_a_newline(fmt):
    assert RENDERERS[fmt]([], _context()) in ("", "[]\n") or fmt in ("sarif", "junit")
    assert _render(fmt).endswith("\n")


def test_colour_only_when_asked():
    assert "\033[" not in render_full(_findings(), _context(color=False))
    coloured = render_full(_findings(), _context(color=True))
    assert "\033[1;31mDLS602\033[0m" in coloured
    assert "\033[" not in RENDERERS["json"](_findings(), _context(color=True))


def test_json_keys_follow_the_contract_and_notebooks_add_the_cell():
    first, *_, last = json.loads(_render("json"))
    assert list(first) == ["path", "line", "column", "end_line", "end_column", "code", "name", "message", "fix"]
    assert list(last)[:2] == ["path", "cell"] and (last["cell"], last["line"]) == (10, 1)
    lines = [json.loads(line) for line in _render("json-lines").splitlines()]
    assert lines == json.loads(_render("json"))


def test_multiline_finding_spans_lines():
    adam = next(f for f in _findings() if f.code == "DLS501")
    assert (adam.line, adam.end_line) == (5, 6)


def test_sarif_rules_have_docs_and_links_and_fixes_are_sarif_fixes():
    document = json.loads(_render("sarif"))
    driver = document["runs"][0]["tool"]["driver"]
    assert [rule["id"] for rule in driver["rules"]] == ["DLS000", "DLS101", "DLS401", "DLS501", "DLS602"]
    assert "## Why is this bad?" in driver["rules"][1]["fullDescription"]["text"]
    assert all(rule["helpUri"] == rule_url(rule["id"]) for rule in driver["rules"])
    results = document["runs"][0]["results"]
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    load = results[0]
    assert load["ruleId"] == "DLS602"
    (change,) = load["fixes"][0]["artifactChanges"]
    assert change["replacements"] == [{
        "deletedRegion": {"startLine": 4, "startColumn": 48, "endLine": 4, "endColumn": 48},
        "insertedContent": {"text": ", weights_only=True"},
    }]


def test_notebook_findings_point_at_the_line_of_the_ipynb_file():
    """Tools that know no cells get the line of the JSON file that stores the cell line."""
    lines = NOTEBOOK_TEXT.splitlines()
    sarif = json.loads(_render("sarif"))["runs"][0]["results"]
    notebook_results = [r for r in sarif if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == NOTEBOOK]
    for result in notebook_results:
        line = result["locations"][0]["physicalLocation"]["region"]["startLine"]
        cell, cell_line = result["properties"]["cell"], result["properties"]["cellLine"]
        source = json.loads(NOTEBOOK_TEXT)["cells"][cell - 1]["source"][cell_line - 1]
        assert json.loads(lines[line - 1].strip().rstrip(",")) == source
        assert "fixes" not in result  # cell coordinates have no SARIF form
    assert [r["properties"]["cell"] for r in notebook_results] == [4, 9, 10]
    github = [line for line in _render("github").splitlines() if NOTEBOOK in line]
    assert github[0].startswith("::error title=dlsan (DLS401),file=notebooks/leaky.ipynb,line=58::cell 4, line 2: ")


def test_github_escapes_properties():
    line = _render("github").splitlines()[0]
    assert line.startswith("::error title=dlsan (DLS602),file=src/train%2Cv1.py,line=4,col=8,")


def test_gitlab_fingerprints_are_unique_and_survive_moving_lines():
    issues = json.loads(_render("gitlab"))
    assert len({issue["fingerprint"] for issue in issues}) == len(issues)
    moved = "\n\n" + SOURCE
    shifted = RENDERERS["gitlab"](lint_source(PATH, moved, SELECTION), RenderContext((), SourceLines({PATH: moved})))
    assert [i["fingerprint"] for i in json.loads(shifted)] == [i["fingerprint"] for i in issues[:2]]
    assert [i["location"]["lines"]["begin"] for i in json.loads(shifted)] == [6, 7]


def test_junit_counts_failures_per_file():
    root = ElementTree.fromstring(_render("junit"))
    assert root.get("failures") == "5"
    assert [(s.get("name"), s.get("failures")) for s in root] == [(PATH, "2"), (NOTEBOOK, "3")]
    empty = ElementTree.fromstring(RENDERERS["junit"]([], _context()))
    assert empty.get("failures") == "0" and empty.find("testsuite/testcase") is not None


def test_summary_and_statistics():
    findings = _findings()[:2]
    assert summary(findings, 1).startswith("Found 2 findings in 1 file checked.")
    assert summary([], 3) == "All checks passed (3 files checked)."
    # both rules' fixes are unsafe: a plain --fix repairs neither, so neither gets [*]
    assert statistics(findings).split() == ["1", "DLS501", "[-]", "adam-weight-decay",
                                            "1", "DLS602", "[-]", "torch-load-without-weights-only"]


def _excerpt(source: str, line: int, column: int, end_line: int, end_column: int) -> str:
    finding = LintFinding("x.py", line, column, end_line, end_column, "DLS999", "test", "message")
    return render_full([finding], RenderContext((), SourceLines({"x.py": source})))


def test_excerpt_expands_tabs_under_the_caret():
    assert _excerpt("if x:\n\tstate = torch.load(p)\n", 2, 10, 2, 23).splitlines()[1:6] == [
        "  |",
        "1 | if x:",
        "2 |     state = torch.load(p)",
        "  |             ^^^^^^^^^^^^^ DLS999",
        "  |",
    ]


def test_excerpt_counts_wide_characters_twice():
    # columns are code points: the span starts after four wide characters, eight terminal cells
    text = _excerpt("模型损失 = torch.load(p)\n", 1, 8, 1, 21)
    assert text.splitlines()[2:4] == ["1 | 模型损失 = torch.load(p)", "  |            ^^^^^^^^^^^^^ DLS999"]


def test_excerpt_of_crlf_source_has_no_carriage_returns():
    text = _excerpt("import torch\r\nx = torch.load(p)\r\ny = 1\r\n", 2, 5, 2, 18)
    assert "\r" not in text
    assert text.splitlines()[2:6] == ["1 | import torch", "2 | x = torch.load(p)", "  |     ^^^^^^^^^^^^^ DLS999",
                                      "3 | y = 1"]


def test_excerpt_of_a_span_over_several_lines_marks_each_line():
    source = "opt = optim.Adam(\n    params,\n    weight_decay=1e-4,\n)\nprint(opt)\n"
    assert _excerpt(source, 1, 7, 4, 2).splitlines()[1:11] == [
        "  |",
        "1 | opt = optim.Adam(",
        "  |       ^^^^^^^^^^^",
        "2 |     params,",
        "  |     ^^^^^^^",
        "3 |     weight_decay=1e-4,",
        "  |     ^^^^^^^^^^^^^^^^^^",
        "4 | )",
        "  | ^ DLS999",
        "5 | print(opt)",
    ]


def test_excerpt_of_a_long_span_elides_its_middle():
    source = "call(\n" + "".join(f"    a{i},\n" for i in range(20)) + ")\n"
    lines = _excerpt(source, 1, 1, 22, 2).splitlines()
    assert "..." in lines and "22 | )" in lines and not any(line.startswith("12 |") for line in lines)


def test_excerpt_of_an_unreadable_file_is_the_headline_only():
    finding = LintFinding("missing.py", 3, 1, 3, 2, "DLS999", "test", "message")
    assert render_full([finding], RenderContext()) == "missing.py:3:1: DLS999 message\n"


def test_sarif_with_fixes_and_notebooks_validates_against_the_schema():
    from test_sarif_schema import _validated

    _validated(_render("sarif"))
