"""The real CLI through a subprocess: exit codes, formats, config discovery, fixes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

BUGGY = "import torch\n\nstate = torch.load('ckpt.pt')\nopt = torch.optim.Adam(params, weight_decay=1e-4)\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(BUGGY)
    # torch.load without weights_only= unpickles before 2.6: the pin makes DLS602 (and its fix) apply
    (tmp_path / "requirements.txt").write_text("numpy\ntorch>=2.1,<2.6\n")
    (tmp_path / "clean.py").write_text("import torch\nstate = torch.load('c.pt', weights_only=True)\n")
    return tmp_path


def test_findings_exit_1_and_text_format(run_dlsan, project):
    result = run_dlsan("check", "--output-format", "concise", ".", cwd=project)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "train.py:3:9: DLS602 " + result.stdout.splitlines()[0].split("DLS602 ", 1)[1],
        "train.py:4:7: DLS501 " + result.stdout.splitlines()[1].split("DLS501 ", 1)[1],
    ]
    assert "Found 2 findings in 2 files checked." in result.stderr


def test_clean_exit_0(run_dlsan, project):
    result = run_dlsan("check", "clean.py", cwd=project)
    assert result.returncode == 0 and result.stdout == ""
    assert "All checks passed" in result.stderr


def test_default_path_is_current_directory(run_dlsan, project):
    assert run_dlsan("check", cwd=project).returncode == 1


def test_exit_zero(run_dlsan, project):
    assert run_dlsan("check", "--exit-zero", ".", cwd=project).returncode == 0


@pytest.mark.parametrize(
    "args",
    [["check", "--bogus"], ["check", "--select", "NOPE", "."], ["check", "--format", "xml", "."],
     ["explain", "DLS998"], ["check", "--jobs", "0", "."]],
)
def test_usage_errors_exit_2(run_dlsan, project, args):
    result = run_dlsan(*args, cwd=project)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_select_and_ignore_by_prefix_name_and_all(run_dlsan, project):
    def found(*args: str) -> list[str]:
        out = run_dlsan("check", "--format", "json", *args, "train.py", cwd=project).stdout
        return [f["code"] for f in json.loads(out)]

    assert found("--select", "DLS5") == ["DLS501"]
    assert found("--select", "torch-load-without-weights-only") == ["DLS602"]
    assert found("--select", "ALL", "--ignore", "DLS6") == ["DLS501"]
    assert found("--ignore", "adam-weight-decay") == ["DLS602"]


def test_broken_files_become_dls000_and_the_run_goes_on(run_dlsan, tmp_path):
    (tmp_path / "syntax.py").write_text("def f(:\n")
    (tmp_path / "binary.py").write_bytes(b"\x00\x01\xff\xfe" * 50)
    (tmp_path / "empty.py").write_text("")
    (tmp_path / "ok.py").write_text(BUGGY)
    result = run_dlsan("check", "--target-torch-version", "2.5", "--format", "json", ".", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    by_path = {}
    for f in json.loads(result.stdout):
        by_path.setdefault(f["path"], []).append(f["code"])
    assert by_path == {"binary.py": ["DLS000"], "ok.py": ["DLS602", "DLS501"], "syntax.py": ["DLS000"]}


def test_statistics(run_dlsan, project):
    result = run_dlsan("check", "--statistics", ".", cwd=project)
    assert result.returncode == 1
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [["1", "DLS501"], ["1", "DLS602"]]


def test_fix_applies_only_safe_fixes_unless_unsafe_is_asked(run_dlsan, project):
    before = (project / "train.py").read_text()
    result = run_dlsan("check", "--fix", "train.py", cwd=project)
    assert (project / "train.py").read_text() == before  # both fixes are unsafe
    assert result.returncode == 1
    result = run_dlsan("check", "--fix", "--unsafe-fixes", "train.py", cwd=project)
    fixed = (project / "train.py").read_text()
    assert "weights_only=True" in fixed and "torch.optim.AdamW" in fixed
    assert result.returncode == 0, result.stdout + result.stderr
    compile(fixed, "train.py", "exec")
    run_dlsan("check", "--fix", "--unsafe-fixes", "train.py", cwd=project)
    assert (project / "train.py").read_text() == fixed


def test_diff_writes_nothing(run_dlsan, project):
    before = (project / "train.py").read_text()
    result = run_dlsan("check", "--diff", "--unsafe-fixes", "train.py", cwd=project)
    assert result.returncode == 1
    assert "+state = torch.load('ckpt.pt', weights_only=True)" in result.stdout
    assert (project / "train.py").read_text() == before


def test_diff_of_a_file_without_a_final_newline_marks_it_as_diff_does(run_dlsan, tmp_path):
    (tmp_path / "a.py").write_text("import torch\nt = torch.randn(3, 4)\nc = t - t.mean(1)")
    result = run_dlsan("check", "--diff", "a.py", cwd=tmp_path)
    assert result.stdout.endswith("+c = t - t.mean(1, keepdim=True)\n\\ No newline at end of file\n")
    assert "-c = t - t.mean(1)\n\\ No newline at end of file\n+c" in result.stdout


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else False,
                    reason="root can write read-only files")
def test_fix_on_read_only_file_reports_and_keeps_it(run_dlsan, project):
    target = project / "train.py"
    target.chmod(stat.S_IRUSR)
    result = run_dlsan("check", "--fix", "--unsafe-fixes", "train.py", cwd=project)
    assert "cannot write" in result.stderr and target.read_text() == BUGGY


def test_fix_that_cannot_be_written_is_reported_with_its_findings(project):
    """As root a read-only file is writable, so refuse every write to simulate one."""
    script = (
        "import builtins, sys, runpy\n"
        "real = builtins.open\n"
        "def guarded(path, mode='r', *a, **k):\n"
        "    if 'w' in mode: raise PermissionError(13, 'Permission denied')\n"
        "    return real(path, mode, *a, **k)\n"
        "builtins.open = guarded\n"
        "sys.argv = ['dlsan', 'check', '--fix', '--unsafe-fixes', 'train.py']\n"
        "runpy.run_module('dlsan', run_name='__main__')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True)
    assert "not fixed, cannot write: Permission denied" in result.stderr
    assert (project / "train.py").read_text() == BUGGY
    assert result.returncode == 1 and "Found 2 findings" in result.stderr


def test_rules_and_explain(run_dlsan):
    rules = run_dlsan("rules")
    assert rules.returncode == 0 and "DLS602" in rules.stdout and "torch-load-without-weights-only" in rules.stdout
    explain = run_dlsan("explain", "DLS602")
    assert explain.returncode == 0 and "## Why is this bad?" in explain.stdout
    assert run_dlsan("explain", "adam-weight-decay").returncode == 0


def test_jobs_give_the_same_findings_in_a_stable_order(run_dlsan, tmp_path):
    for i in range(20):
        (tmp_path / f"m{i:02d}.py").write_text(BUGGY)
    (tmp_path / "requirements.txt").write_text("torch==2.5.1\n")
    one = run_dlsan("check", "--format", "json", "--jobs", "1", "--no-cache", ".", cwd=tmp_path).stdout
    two = run_dlsan("check", "--format", "json", "--jobs", "2", "--no-cache", ".", cwd=tmp_path).stdout
    assert one == two and len(json.loads(one)) == 40


def test_python_m_dlsan_and_version(run_dlsan):
    result = run_dlsan("--version")
    assert result.returncode == 0 and "dlsan" in result.stdout


def test_fix_keeps_a_utf8_bom_and_crlf(run_dlsan, tmp_path):
    target = tmp_path / "bom.py"
    target.write_bytes(b"\xef\xbb\xbfimport torch\r\nstate = torch.load('c.pt')\r\n")
    run_dlsan("check", "--target-torch-version", "2.4", "--fix", "--unsafe-fixes", "bom.py", cwd=tmp_path)
    assert target.read_bytes() == b"\xef\xbb\xbfimport torch\r\nstate = torch.load('c.pt', weights_only=True)\r\n"


def test_a_fifo_named_like_python_does_not_hang(run_dlsan, tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "a.py").write_text(BUGGY)
    result = run_dlsan("check", ".", cwd=tmp_path)
    assert result.returncode == 1 and "pipe.py" not in result.stdout


def test_check_help_describes_every_option_in_one_line(run_dlsan):
    import click

    from dlsan.cli import check

    lines = run_dlsan("check", "--help").stdout.splitlines()
    options = lines[lines.index("Options:") + 1:]
    assert all(line.startswith("  -") for line in options), "an option's help wraps onto a second line"
    described = {opt for line in options for opt in line.split() if opt.startswith("--")}
    for param in check.params:
        if isinstance(param, click.Option):
            assert set(param.opts) & described, param.opts
            assert param.help, f"{param.opts} has no help"
    assert all(len(line.split("  ", 2)) >= 2 and line.split()[-1] for line in options)
