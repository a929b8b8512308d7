"""The project files a user reads: LICENSE, CHANGELOG, and the README's pre-commit hook that
works today (`repo: local`), run for real on a small git repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dlsan.__about__ import __version__

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_license_is_the_mit_license_pyproject_declares():
    assert 'license = "MIT"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert (REPO / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_changelog_has_the_current_version_and_the_tag_scheme():
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {__version__}" in changelog and "## Unreleased" in changelog
    assert "tagged `vX.Y.Z`" in changelog and "dlsan/__about__.py" in changelog


def test_readme_says_the_index_name_is_for_when_published():
    assert "not published on a package index yet" in README
    for line in README.splitlines():
        if re.search(r"pip install dlsan\b", line):
            assert "published" in line or "once it is" in line, line


def _local_hook_block() -> str:
    blocks = re.findall(r"```yaml\n(repos:\n  - repo: local\n.*?)```", README, flags=re.DOTALL)
    assert len(blocks) == 1, "the README shows one repo: local pre-commit configuration"
    return blocks[0]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_readme_local_pre_commit_hook_works_today(tmp_path):
    pytest.importorskip("pre_commit")
    project = tmp_path / "project"
    project.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "t@example.invalid"], ["config", "user.name", "t"]):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)
    (project / ".pre-commit-config.yaml").write_text(_local_hook_block())
    (project / "train.py").write_text("import torch\n\nstate = torch.load('last.pt', weights_only=False)\n")
    subprocess.run(["git", "add", "-A"], cwd=project, check=True, capture_output=True)
    bin_dir = str(Path(sys.executable).parent)  # where this interpreter's `dlsan` script lives
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRE_COMMIT")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["DLSAN_CACHE_DIR"] = str(tmp_path / "cache")
    result = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
                            cwd=project, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "train.py:3:9: DLS602" in result.stdout and "Failed" in result.stdout
