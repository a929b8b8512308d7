"""Packaging: the wheel ships every rule without a top-level ``rules`` package, and the light
path (the CLI, the linter) never imports torch."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _rule_codes_in_source() -> set[str]:
    """The lint rules' codes and the runtime finding kinds' (``dlsan rules`` lists both)."""
    # DLS000 is the engine's own code; DLS001's rule class takes its code from dlsan.lint.suppressions
    codes = {"DLS000", "DLS001"}
    for path in [*(REPO / "rules").glob("*.py"), REPO / "dlsan" / "runtime" / "codes.py"]:
        codes |= set(re.findall(r'^\s+code = "(DLS\d{3})"', path.read_text(), flags=re.MULTILINE))
    return codes


def _listed_codes(output: str) -> set[str]:
    return set(re.findall(r"^(DLS\d{3})\s", output, flags=re.MULTILINE))


def test_linting_never_imports_torch():
    code = (
        "import sys, dlsan, dlsan.cli\n"
        "from dlsan.lint.api import lint_source\n"
        "lint_source('import torch\\nx = torch.load(f)\\n')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_source_checkout_runs_every_rule(run_dlsan):
    result = run_dlsan("rules")
    assert result.returncode == 0
    assert _listed_codes(result.stdout) == _rule_codes_in_source()


@pytest.mark.slow
def test_wheel_installs_and_runs_every_rule(tmp_path, checkout_wheel):
    env_dir = tmp_path / "venv"
    # system site-packages provide libcst and click without a download; the wheel goes into the venv
    venv.create(env_dir, with_pip=True, system_site_packages=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(checkout_wheel)], check=True,
                   capture_output=True, timeout=600)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    installed = {p.name for p in site.iterdir()}
    assert "dlsan" in installed and "rules" not in installed and "tests" not in installed
    assert (site / "dlsan" / "_builtin_rules").is_dir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(python), "-c", "import dlsan; print(dlsan.__file__)"], cwd=outside,
                           check=True, capture_output=True, text=True, env=clean_env).stdout
    assert str(site) in where
    listed = subprocess.run([str(env_dir / "bin" / "dlsan"), "rules"], cwd=outside, check=True,
                            capture_output=True, text=True, env=clean_env).stdout
    assert _listed_codes(listed) == _rule_codes_in_source()
    (outside / "a.py").write_text("import torch\nx = torch.load(f, weights_only=False)\n")
    check = subprocess.run([str(env_dir / "bin" / "dlsan"), "check", "a.py"], cwd=outside,
                           capture_output=True, text=True, env=clean_env)
    assert check.returncode == 1 and "DLS602" in check.stdout
