"""Where Ruff and flake8 users have a habit, dlsan behaves the same (each case failed before)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from rule_doubles import PROJECT_RULE


@pytest.fixture(autouse=True)
def _torch_before_2_6(monkeypatch):
    """These tests use a bare ``torch.load`` as their DLS602 example, a finding before PyTorch 2.6."""
    monkeypatch.setenv("DLSAN_TARGET_TORCH_VERSION", "2.5")


LOAD = "import torch\nstate = torch.load('ckpt.pt')\n"
LEAK = textwrap.dedent("""\
    import torch

    running = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        running += loss
""")


def found(run_dlsan, cwd: Path, *args: str) -> list[tuple[str, str]]:
    result = run_dlsan("check", "--format", "json", *args, cwd=cwd)
    assert result.returncode in (0, 1), result.stderr
    return [(f["path"], f["code"]) for f in json.loads(result.stdout)]


def test_cli_select_overrides_a_config_ignore(run_dlsan, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\nignore = ["DLS101", "DLS602"]\n')
    (tmp_path / "train.py").write_text(LEAK + LOAD)
    assert found(run_dlsan, tmp_path, ".") == []
    assert found(run_dlsan, tmp_path, "--select", "DLS101", ".") == [("train.py", "DLS101")]
    # a command-line extend-select re-enables what it names; the config's other ignores stay
    assert found(run_dlsan, tmp_path, "--extend-select", "DLS6", ".") == [("train.py", "DLS602")]


def test_within_one_source_the_more_specific_selector_wins(run_dlsan, tmp_path):
    (tmp_path / "train.py").write_text(LEAK + LOAD)
    assert found(run_dlsan, tmp_path, "--select", "DLS602", "--ignore", "DLS6", ".") == [("train.py", "DLS602")]
    assert found(run_dlsan, tmp_path, "--select", "DLS6", "--ignore", "DLS602", ".") == []


@pytest.mark.parametrize("pattern", ["./legacy/*", "legacy/*", "legacy/", "./legacy/old.py", "old.py"])
def test_per_file_ignore_patterns_are_normalised(run_dlsan, tmp_path, pattern):
    (tmp_path / "pyproject.toml").write_text(f'[tool.dlsan]\nper-file-ignores = {{ "{pattern}" = ["DLS602"] }}\n')
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "old.py").write_text(LOAD)
    (tmp_path / "new.py").write_text(LOAD)
    assert found(run_dlsan, tmp_path, ".") == [("new.py", "DLS602")]


def test_exclude_patterns_are_normalised(run_dlsan, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\nextend-exclude = ["./legacy"]\n')
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "old.py").write_text(LOAD)
    (tmp_path / "new.py").write_text(LOAD)
    assert found(run_dlsan, tmp_path, ".") == [("new.py", "DLS602")]


@pytest.mark.parametrize("comment, suppressed", [
    ("# noqa: DLS6", True), ("# noqa: DLS60", True), ("# noqa: DLS602", True), ("# noqa: DLS5", False),
    ("# dlsan: ignore[DLS6]", True), ("# noqa: DLS6021", False),
])
def test_noqa_takes_code_prefixes_as_flake8_does(run_dlsan, tmp_path, comment, suppressed):
    (tmp_path / "a.py").write_text(f"import torch\nstate = torch.load('ckpt.pt')  {comment}\n")
    assert found(run_dlsan, tmp_path, "--select", "DLS6", ".") == ([] if suppressed else [("a.py", "DLS602")])


def test_empty_files_are_not_findings(run_dlsan, tmp_path):
    (tmp_path / "empty.py").write_text("")
    (tmp_path / "blank.py").write_text("\n\n")
    result = run_dlsan("check", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_missing_path_is_a_finding_and_the_rest_is_linted(run_dlsan, tmp_path):
    (tmp_path / "a.py").write_text(LOAD)
    result = run_dlsan("check", "--format", "json", "gone.py", "a.py", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    findings = json.loads(result.stdout)
    assert [(f["path"], f["code"]) for f in findings] == [("gone.py", "DLS000"), ("a.py", "DLS602")]
    assert "No such file" in findings[0]["message"]


@pytest.mark.parametrize("option", ["--select", "--extend-select", "--ignore"])
@pytest.mark.parametrize("value", ["", ",", " , "])
def test_an_option_naming_no_rule_is_a_usage_error(run_dlsan, tmp_path, option, value):
    (tmp_path / "a.py").write_text(LOAD)
    result = run_dlsan("check", option, value, ".", cwd=tmp_path)
    assert result.returncode == 2 and option in result.stderr and "Traceback" not in result.stderr


def test_statistics_mark_only_safe_fixes_with_a_star(run_dlsan, tmp_path):
    (tmp_path / "a.py").write_text(LOAD + "y = model.forward(x)\n" + "import torch.nn as nn\nmodel = nn.Linear(2, 2)\n"
                                   "out = model.forward(x)\n")
    rows = {line.split()[1]: line.split()[2] for line in run_dlsan("check", "--statistics", ".", cwd=tmp_path)
            .stdout.splitlines()}
    assert rows["DLS602"] == "[-]"  # its fix is unsafe: a plain --fix does not apply it
    assert rows["DLS603"] == "[*]"


def test_statistics_as_json(run_dlsan, tmp_path):
    (tmp_path / "a.py").write_text(LOAD + LOAD.replace("import torch\n", ""))
    result = run_dlsan("check", "--statistics", "--format", "json", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert json.loads(result.stdout) == [{"code": "DLS602", "name": "torch-load-without-weights-only", "count": 2,
                                          "safe_fixes": 0, "unsafe_fixes": 2}]


@pytest.fixture
def project_with_rule(tmp_path: Path) -> Path:
    (tmp_path / "lint_rules").mkdir()
    (tmp_path / "lint_rules" / "no_print.py").write_text(PROJECT_RULE.format(code="ACME101"))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dlsan]\nrule-dirs = ["lint_rules"]\nextend-exclude = ["lint_rules"]\n')
    return tmp_path


def test_rules_and_explain_see_project_rules(run_dlsan, project_with_rule):
    listed = run_dlsan("rules", cwd=project_with_rule)
    assert listed.returncode == 0 and "ACME101" in listed.stdout and "no-print" in listed.stdout
    rows = {row["code"]: row for row in json.loads(run_dlsan("rules", "--format", "json", cwd=project_with_rule).stdout)}
    assert rows["ACME101"]["origin"] == "project" and rows["DLS602"]["origin"] == "builtin"
    assert rows["DLS501"]["fix"] == "unsafe" and rows["DLS603"]["fix"] == "safe" and rows["DLS301"]["fix"] is None
    explained = run_dlsan("explain", "no-print", cwd=project_with_rule)
    assert explained.returncode == 0 and "Training scripts should log" in explained.stdout


def test_project_rules_use_their_own_prefix(run_dlsan, project_with_rule):
    (project_with_rule / "train.py").write_text("print(loss)\nprint(acc)  # noqa: ACME1\n")
    assert found(run_dlsan, project_with_rule, ".") == [("train.py", "ACME101")]
    assert found(run_dlsan, project_with_rule, "--select", "ACME", ".") == [("train.py", "ACME101")]


def test_project_rules_may_not_take_the_builtin_prefix(run_dlsan, project_with_rule):
    (project_with_rule / "lint_rules" / "no_print.py").write_text(PROJECT_RULE.format(code="DLS990"))
    (project_with_rule / "train.py").write_text("print(loss)\n")
    for args in (["check", "."], ["rules"]):
        result = run_dlsan(*args, cwd=project_with_rule)
        assert result.returncode == 2 and "reserved" in result.stderr, result.stderr


def test_dls000_is_listed_and_explained(run_dlsan):
    assert "DLS000" in run_dlsan("rules").stdout
    explained = run_dlsan("explain", "DLS000")
    assert explained.returncode == 0 and "## What it does" in explained.stdout
    assert run_dlsan("explain", "parse-error").returncode == 0
