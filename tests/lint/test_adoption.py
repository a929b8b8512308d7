"""Adopting dlsan on an existing codebase: --add-noqa, file-level suppressions, DLS001."""

from __future__ import annotations

import json
import textwrap

import pytest

from dlsan.lint.api import lint_source


@pytest.fixture(autouse=True)
def _torch_before_2_6(monkeypatch):
    """These tests use a bare ``torch.load`` as their DLS602 example, a finding before PyTorch 2.6."""
    monkeypatch.setenv("DLSAN_TARGET_TORCH_VERSION", "2.5")

LEGACY = textwrap.dedent("""\
    import torch

    state = torch.load('ckpt.pt')  # type: ignore[arg-type]
    opt = torch.optim.Adam(params, weight_decay=1e-4)  # noqa: E501
    model.forward(x)
    doc = '''
    torch.load(f)
    '''
    other = torch.load(
        'b.pt')
""")


def codes(findings):
    return [(f.line, f.code) for f in findings]


def test_add_noqa_silences_every_finding_keeps_comments_and_is_idempotent(run_dlsan, tmp_path):
    target = tmp_path / "legacy.py"
    target.write_text(LEGACY)
    assert run_dlsan("check", ".", cwd=tmp_path).returncode == 1
    result = run_dlsan("check", "--add-noqa", ".", cwd=tmp_path)
    assert result.returncode == 0 and "Added 3 noqa directives." in result.stderr, result.stderr
    lines = target.read_text().splitlines()
    assert lines[2] == "state = torch.load('ckpt.pt')  # type: ignore[arg-type]  # noqa: DLS602"
    assert lines[3] == "opt = torch.optim.Adam(params, weight_decay=1e-4)  # noqa: E501, DLS501"
    assert lines[8] == "other = torch.load(  # noqa: DLS602"
    after = run_dlsan("check", ".", cwd=tmp_path)
    assert after.returncode == 0, after.stdout
    once = target.read_text()
    assert "Added 0 noqa directives." in run_dlsan("check", "--add-noqa", ".", cwd=tmp_path).stderr
    assert target.read_text() == once


def test_add_noqa_keeps_crlf_and_bom_and_skips_lines_it_cannot_comment(run_dlsan, tmp_path):
    target = tmp_path / "a.py"
    target.write_bytes(b"\xef\xbb\xbfimport torch\r\nx = torch.load(f)\r\ny = torch.load(\\\r\n  f)\r\n")
    result = run_dlsan("check", "--add-noqa", "a.py", cwd=tmp_path)
    assert target.read_bytes() == (b"\xef\xbb\xbfimport torch\r\nx = torch.load(f)  # noqa: DLS602\r\n"
                                   b"y = torch.load(\\\r\n  f)\r\n")
    assert "a.py:3: no noqa added" in result.stderr


def test_add_noqa_refuses_fix(run_dlsan, tmp_path):
    (tmp_path / "a.py").write_text(LEGACY)
    assert run_dlsan("check", "--add-noqa", "--fix", ".", cwd=tmp_path).returncode == 2


@pytest.mark.parametrize("directive, left", [
    ("# dlsan: ignore-file[DLS602]", ["DLS501"]),
    ("# dlsan: ignore-file[torch-load-without-weights-only, DLS5]", []),
    ("# dlsan: ignore-file", []),
    ("    # dlsan: ignore-file[DLS6]", ["DLS501"]),
])
def test_ignore_file(directive, left):
    source = f"import torch\n\ndef f():\n{directive}\n    a = torch.load(x)\n    return a\n" \
             "b = torch.load(y)\nopt = torch.optim.Adam(p, weight_decay=1e-4)\n"
    assert [code for _, code in codes(lint_source(source))] == left


def test_ignore_file_must_be_a_comment_of_its_own():
    source = "import torch\nb = torch.load(y)  # dlsan: ignore-file\nc = torch.load(z)\n"
    assert codes(lint_source(source)) == [(2, "DLS602"), (3, "DLS602")]  # nor is it a line suppression


def test_a_fixed_finding_leaves_an_unused_suppression_that_dls001_reports_and_fix_removes(run_dlsan, tmp_path):
    target = tmp_path / "a.py"
    target.write_text("import torch\nstate = torch.load('c.pt', weights_only=True)  # noqa: DLS602  # keep me\n")
    result = run_dlsan("check", "--format", "json", "a.py", cwd=tmp_path)
    (finding,) = json.loads(result.stdout)
    assert (finding["code"], finding["line"], finding["fix"]["applicability"]) == ("DLS001", 2, "safe")
    assert "`DLS602`" in finding["message"]
    assert run_dlsan("check", "--fix", "a.py", cwd=tmp_path).returncode == 0
    assert target.read_text() == "import torch\nstate = torch.load('c.pt', weights_only=True)  # keep me\n"


def test_used_suppressions_are_not_reported():
    source = "import torch\na = torch.load(x)  # noqa: DLS602\nb = torch.load(y)  # dlsan: ignore[DLS6]\n" \
             "c = torch.load(z)  # dlsan: ignore\n"
    assert lint_source(source) == []


def test_codes_of_rules_that_did_not_run_are_not_unused(run_dlsan, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\nper-file-ignores = { "legacy/*" = ["DLS501"] }\n')
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "a.py").write_text("import torch\nopt = make()  # noqa: DLS501\n")
    (tmp_path / "b.py").write_text("import torch\nopt = make()  # noqa: DLS501\n")
    out = run_dlsan("check", "--format", "json", ".", cwd=tmp_path).stdout
    assert [(f["path"], f["code"]) for f in json.loads(out)] == [("b.py", "DLS001")]
    out = run_dlsan("check", "--format", "json", "--select", "DLS6,DLS001", ".", cwd=tmp_path).stdout
    assert json.loads(out) == []


def test_unknown_dlsan_codes_are_unused_and_other_tools_codes_are_not():
    source = "import torch\nx = 1  # noqa: DLS699\ny = 2  # noqa: F401, E501\nz = 3  # noqa: DLS6\n"
    assert codes(lint_source(source)) == [(2, "DLS001"), (4, "DLS001")]  # DLS6 names rules that ran


def test_dls001_can_be_suppressed_and_ignored():
    source = "import torch\nx = 1  # noqa: DLS699, DLS001\n"
    assert lint_source(source) == []
    assert lint_source("import torch\nx = 1  # noqa: DLS699\n", ignore=["DLS001"]) == []


def test_suppressions_are_found_on_the_lines_libcst_counts_with_lone_carriage_returns():
    """tokenize ends lines at \\n only; libcst and dlsan at \\r too (found by fuzzing)."""
    source = "import torch\rx = 1  # noqa: DLS999\r\ny = torch.load(f)  # noqa: DLS602\n"
    (finding,) = lint_source(source)
    assert (finding.code, finding.line, finding.column) == ("DLS001", 2, 8)
