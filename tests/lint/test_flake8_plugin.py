"""The flake8 plugin through the real ``python -m flake8`` (the entry point of the installed package)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from rule_doubles import PROJECT_RULE

pytest.importorskip("flake8")

BUGGY = (
    "import torch\n"
    "\n"
    "def resume(model, path):\n"
    "    state = torch.load(path, weights_only=False)\n"
    "    model.load_state_dict(state['model'])\n"
    "    return torch.optim.Adam(model.parameters(), lr=3e-4, weight_decay=1e-2)\n"
)


def flake8(*args: str, cwd: Path, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flake8", "--no-show-source", *args], cwd=cwd,
                          capture_output=True, text=True, input=input, timeout=120)


def reported(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line.split(" ", 1)[0] + " " + line.split(" ", 2)[1] for line in result.stdout.splitlines()]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(BUGGY)
    return tmp_path


def test_entry_point_is_registered_with_the_dls_prefix():
    found = entry_points()
    # Python 3.9's entry_points() is a dict of groups; select(group=) came with 3.10
    group = found.select(group="flake8.extension") if hasattr(found, "select") else found.get("flake8.extension", [])
    (plugin,) = [ep for ep in group if ep.name == "DLS"]
    assert plugin.value == "dlsan.flake8_plugin:DlsanChecker"


def test_findings_match_the_cli(project):
    result = flake8("--select", "DLS", "train.py", cwd=project)
    assert result.returncode == 1
    assert reported(result) == ["train.py:4:13: DLS602", "train.py:6:12: DLS501"]
    assert "weights_only" in result.stdout
    cli = subprocess.run([sys.executable, "-m", "dlsan", "check", "--no-cache", "--format", "json", "train.py"],
                         cwd=project, capture_output=True, text=True, timeout=120)
    assert [(f["line"], f["column"], f["code"]) for f in json.loads(cli.stdout)] == [(4, 13, "DLS602"),
                                                                                     (6, 12, "DLS501")]


def test_flake8_select_ignore_and_noqa_work_on_dls_codes(project):
    assert reported(flake8("--select", "DLS5", "train.py", cwd=project)) == ["train.py:6:12: DLS501"]
    assert reported(flake8("--select", "DLS", "--extend-ignore", "DLS602", "train.py", cwd=project)) == [
        "train.py:6:12: DLS501"]
    (project / "train.py").write_text(BUGGY.replace("torch.load(path, weights_only=False)", "torch.load(path, weights_only=False)  # noqa: DLS602"))
    assert reported(flake8("--select", "DLS", "train.py", cwd=project)) == ["train.py:6:12: DLS501"]


def test_default_run_mixes_dls_with_other_plugins(project):
    (project / "train.py").write_text(BUGGY + "import os\n")
    codes = [line.split()[1] for line in reported(flake8("train.py", cwd=project))]
    assert "DLS602" in codes and "DLS501" in codes and "F401" in codes


def test_tool_dlsan_config_decides_the_rules(project):
    (project / "pyproject.toml").write_text('[tool.dlsan]\nignore = ["DLS602"]\n')
    assert reported(flake8("--select", "DLS", "train.py", cwd=project)) == ["train.py:6:12: DLS501"]
    (project / "pyproject.toml").write_text('[tool.dlsan]\nper-file-ignores = { "train.py" = ["DLS5"] }\n')
    assert reported(flake8("--select", "DLS", "train.py", cwd=project)) == ["train.py:4:13: DLS602"]


def test_project_rule_prefixes_are_reported_once_flake8_selects_them(project):
    """flake8 reports a plugin's codes by their prefix; only ``DLS`` is registered (entry points are
    fixed at install time), so a project prefix is added with ``--extend-select``, as the README says."""
    (project / "lint_rules").mkdir()
    (project / "lint_rules" / "no_print.py").write_text(PROJECT_RULE.format(code="ACME101"))
    (project / "pyproject.toml").write_text('[tool.dlsan]\nrule-dirs = ["lint_rules"]\n')
    (project / "train.py").write_text(BUGGY + "print(model)\n")
    assert "train.py:7:1: ACME101" in reported(flake8("--extend-select", "ACME", "train.py", cwd=project))
    assert reported(flake8("--select", "ACME", "train.py", cwd=project)) == ["train.py:7:1: ACME101"]
    assert "ACME101" not in flake8("train.py", cwd=project).stdout


def test_a_broken_config_is_one_finding_not_a_crash(project):
    (project / "pyproject.toml").write_text('[tool.dlsan]\nselect = ["NOPE"]\n')
    result = flake8("--select", "DLS", "train.py", cwd=project)
    assert reported(result) == ["train.py:1:1: DLS000"]
    assert "configuration error" in result.stdout


def test_stdin_parallel_jobs_and_unparsable_files(project):
    from_stdin = flake8("--select", "DLS", "--stdin-display-name", "nb.py", "-", cwd=project, input=BUGGY)
    assert reported(from_stdin) == ["nb.py:4:13: DLS602", "nb.py:6:12: DLS501"]
    for i in range(6):
        (project / f"step{i}.py").write_text(BUGGY)
    (project / "broken.py").write_text("def train(:\n")
    result = flake8("--jobs", "2", "--select", "DLS,E999", ".", cwd=project)
    lines = reported(result)
    assert len([line for line in lines if line.endswith("DLS602")]) == 7
    assert [line.split()[-1] for line in lines if line.startswith("./broken.py")] == ["E999"]


def test_the_plugin_does_not_import_torch(project):
    script = (
        "import sys\n"
        "from flake8.main.cli import main\n"
        "try:\n"
        "    main(['--select', 'DLS', 'train.py'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines()[-1] == "False", result.stdout + result.stderr
