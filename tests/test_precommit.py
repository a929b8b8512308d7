"""The pre-commit hooks of `.pre-commit-hooks.yaml`, run for real with `pre-commit try-repo`.

pre-commit installs the hook repository into a fresh virtualenv with pip (from PyPI), then runs the
hook on a temporary git repository holding a buggy, staged training script.

`try-repo` installs a repository's committed state (plus tracked changes, never untracked files),
so the test first snapshots the working tree's package files (`pyproject.toml`, `README.md`, the
hook manifest, `dlsan/`, `rules/`) into a throwaway git repository and commits them: the hooks
run exactly the code under test, committed or not.

The user's repository also carries a project-local probe rule (`[tool.dlsan] rule-dirs`), which
dlsan loads inside the hook's own environment and which reports whether torch is importable
there: the hook must install without torch.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml")
PACKAGE_DIRS = ("dlsan", "rules")

pytestmark = pytest.mark.slow

LOAD = "import torch\n\nstate = torch.load('checkpoints/last.pt', weights_only=False)\n"
LOGGED_LOSS = textwrap.dedent("""\
    import torch

    running_loss = 0.0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        running_loss += loss
    print(f"train loss {running_loss / len(loader):.4f}")
""")

PROBE_RULE = textwrap.dedent('''\
    import importlib.util

    from dlsan.lint.rule import Invalid, Rule, Valid


    class HookEnvironmentProbe(Rule):
        """
        ## What it does
        Reports, on every module, whether torch is importable where dlsan runs.

        ## Why is this bad?
        The pre-commit hook must install without torch.

        ## Example
        ```python
        x = 1
        ```

        ## Use instead
        ```python
        x = 1
        ```
        """

        code = "HOOK990"
        name = "hook-environment-probe"
        message = "probe"
        requires = ("",)
        VALID = [Valid("")]
        INVALID = [Invalid("x = 1")]

        def visit_Module(self, node):
            absent = importlib.util.find_spec("torch") is None
            self.report(node, message=f"hook environment: torch absent={absent}")
''')


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _init_repo(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    _git("init", "-q", cwd=path)
    _git("config", "user.email", "dlsan-tests@example.invalid", cwd=path)
    _git("config", "user.name", "dlsan tests", cwd=path)
    _git("config", "commit.gpgsign", "false", cwd=path)


def _commit_all(path: Path) -> None:
    _git("add", "-A", cwd=path)
    _git("commit", "-q", "-m", "snapshot", cwd=path)


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> Path:
    """The working tree's package files, committed to a throwaway repository."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    snapshot = tmp_path_factory.mktemp("hook-repo")
    _init_repo(snapshot)
    for name in PACKAGE_FILES:
        shutil.copy2(REPO / name, snapshot / name)
    for name in PACKAGE_DIRS:
        shutil.copytree(REPO / name, snapshot / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _commit_all(snapshot)
    return snapshot


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """A user's project: two training scripts staged, and the probe rule."""
    project = tmp_path / "project"
    _init_repo(project)
    (project / "resume.py").write_text(LOAD)
    (project / "train.py").write_text(LOGGED_LOSS)
    shutil.copy(REPO / "fixtures" / "notebooks" / "leaky.ipynb", project / "leaky.ipynb")
    (project / "lint_probe").mkdir()
    (project / "lint_probe" / "hook_probe.py").write_text(PROBE_RULE)
    (project / "pyproject.toml").write_text(
        '[tool.dlsan]\nrule-dirs = ["lint_probe"]\nextend-select = ["HOOK990"]\nextend-exclude = ["lint_probe"]\n')
    _git("add", "-A", cwd=project)
    return project


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=10).close()
    except OSError:
        return False
    return True


def try_repo(hook_repo: Path, hook: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PRE_COMMIT", "PYTHONPATH"))}
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), hook, "--all-files", "--verbose",
         "--color", "never"],
        cwd=cwd, capture_output=True, text=True, timeout=900, env=env,
    )
    if "An unexpected error has occurred" in result.stdout + result.stderr and not _pypi_reachable():
        pytest.skip("PyPI is unreachable: pre-commit cannot install the hook environment")
    return result


def test_check_hook_reports_findings_and_fails(hook_repo, user_repo):
    result = try_repo(hook_repo, "dlsan", user_repo)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Failed" in output
    assert "resume.py:3:9: DLS602" in output
    assert "train.py:9:5: DLS101" in output
    assert "leaky.ipynb:cell 4:2:12: DLS401" in output  # notebooks are passed to the hook too
    assert "hook environment: torch absent=True" in output, output
    assert "Traceback" not in output
    assert (user_repo / "train.py").read_text() == LOGGED_LOSS


def test_fix_hook_applies_safe_fixes_only(hook_repo, user_repo):
    result = try_repo(hook_repo, "dlsan-fix", user_repo)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "files were modified by this hook" in output
    # DLS101's fix is safe here: the accumulator is only printed.
    assert (user_repo / "train.py").read_text() == LOGGED_LOSS.replace("running_loss += loss\n",
                                                                       "running_loss += loss.item()\n")
    # DLS602's fix (weights_only=True) may break loading old checkpoints: unsafe, not applied.
    assert (user_repo / "resume.py").read_text() == LOAD
    assert "resume.py:3:9: DLS602" in output
    assert "train.py:9" not in output
