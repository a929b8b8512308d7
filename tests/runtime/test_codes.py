"""One vocabulary: every runtime finding kind has a DLS8xx code, docs, and a source location, and
renders through the lint reporters."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import torch
from torch import nn

import dlsan
from dlsan.documented import Documented
from dlsan.lint.rule import DOC_SECTIONS
from dlsan.report import RENDERERS, RenderContext
from dlsan.runtime.codes import RUNTIME_CODES, code_for
from dlsan.runtime.findings import KINDS, Finding
from dlsan.runtime.probe import probe_classes


class LogHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(self.fc(x))


def test_every_kind_has_its_own_documented_code():
    codes = [code_for(kind).code for kind in KINDS]
    assert len(set(codes)) == len(KINDS) and all(code.startswith("DLS8") for code in codes)
    for entry in RUNTIME_CODES:
        sections = entry.doc_sections()
        assert all(sections.get(title) for title in DOC_SECTIONS), entry.code
        assert entry.summary() and entry.message and issubclass(entry, Documented)
    assert code_for("made-up-by-a-user-probe").code == "DLS800"


def test_each_probe_kind_is_catalogued_under_its_probe():
    for name, probe in probe_classes().items():
        for kind in probe.kinds:
            assert code_for(kind).probe == name, kind


def test_explain_and_rules_show_runtime_codes_without_importing_torch():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from dlsan.cli import cli\n"
        "out = CliRunner().invoke(cli, ['explain', 'DLS809']).output\n"
        "assert out.startswith('DLS809 graph-leak') and '## Why is this bad?' in out, out\n"
        "out = CliRunner().invoke(cli, ['rules']).output\n"
        "assert 'DLS801  nonfinite' in out and 'DLS806  unused-parameter' in out, out\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_runtime_finding_points_at_the_user_module_forward_and_renders_like_lint(x):
    model = nn.Sequential(LogHead())
    with dlsan.instrument(model, on_error="record") as san:
        model(torch.full((6, 8), -5.0))
    (finding,) = [f for f in san.findings if f.kind == "nonfinite"]
    assert finding.code == "DLS801" and finding.path is not None and finding.path.endswith("test_codes.py")
    lines, start = inspect.getsourcelines(LogHead.forward)
    assert start <= finding.line < start + len(lines)
    lint = finding.to_lint_finding()
    assert (lint.code, lint.name, lint.path, lint.line) == ("DLS801", "nonfinite", finding.path, finding.line)
    context = RenderContext(rules=RUNTIME_CODES)
    assert RENDERERS["concise"]([lint], context).startswith(f"{finding.path}:{finding.line}:1: DLS801 ")
    assert json.loads(RENDERERS["json"]([lint], context))[0]["code"] == "DLS801"
    assert RENDERERS["github"]([lint], context).startswith("::error title=dlsan (DLS801)")
    sarif = json.loads(RENDERERS["sarif"]([lint], context))
    assert sarif["runs"][0]["results"][0]["ruleId"] == "DLS801"
    assert finding.to_dict()["code"] == "DLS801"


def test_a_model_of_torch_classes_only_points_at_the_line_that_instrumented_it():
    model = nn.Sequential(nn.Linear(4, 4))
    san = dlsan.instrument(model, on_error="record"); line = inspect.currentframe().f_lineno  # noqa: E702
    san.emit(Finding("dead-relu", "0", "forward", 1, "planted"), fatal=False)
    san.remove()
    (planted,) = san.findings
    assert planted.path.endswith("test_codes.py") and planted.line == line
