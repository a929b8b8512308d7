"""The documented GitHub Actions workflow (`docs/github-actions.yml`) runs as written.

Its `dlsan` commands are executed on a small project: the annotation job's command prints
`::error` workflow commands and fails on findings, the code-scanning job's command writes a SARIF
file, valid against the SARIF 2.1.0 schema, under the name the upload step reads.  Its install
step is run too, in a fresh virtualenv, with a wheel built from this checkout at the path the
workflow names (dlsan is not on a package index yet).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import jsonschema
import pytest

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = yaml.safe_load((REPO / "docs" / "github-actions.yml").read_text(encoding="utf-8"))
SCHEMA = json.loads((REPO / "tests" / "lint" / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def _steps(job: str) -> list[dict[str, Any]]:
    return WORKFLOW["jobs"][job]["steps"]


def _dlsan_command(job: str) -> str:
    (command,) = [step["run"] for step in _steps(job) if "dlsan check" in step.get("run", "")]
    return command


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a workflow `run:` line with this interpreter's dlsan (a shell line: it may redirect)."""
    local = command.replace("dlsan check", f"{shlex.quote(sys.executable)} -m dlsan check --no-cache", 1)
    env = {**os.environ, "DLSAN_CACHE_DIR": str(cwd / ".dlsan-cache")}
    return subprocess.run(local, shell=True, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text("import torch\n\nstate = torch.load('checkpoints/last.pt', weights_only=False)\n")
    return tmp_path


def test_annotation_job_prints_error_annotations_and_fails(project):
    command = _dlsan_command("annotations")
    assert "--format github" in command
    result = _run(command, project)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("::error title=dlsan (DLS602),file=train.py,line=3,col=9,")


def test_code_scanning_job_writes_valid_sarif_for_the_upload_step(project):
    command = _dlsan_command("code-scanning")
    assert "--format sarif" in command
    result = _run(command, project)
    assert result.returncode == 0, result.stderr
    (upload,) = [step for step in _steps("code-scanning") if step.get("uses", "").startswith(
        "github/codeql-action/upload-sarif@")]
    document = json.loads((project / upload["with"]["sarif_file"]).read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    assert [r["ruleId"] for r in document["runs"][0]["results"]] == ["DLS602"]
    assert WORKFLOW["jobs"]["code-scanning"]["permissions"]["security-events"] == "write"


def test_jobs_install_dlsan_without_torch():
    for job in WORKFLOW["jobs"]:
        installs = [step["run"] for step in _steps(job) if "pip install" in step.get("run", "")]
        assert installs and all("torch" not in line for line in installs)
        assert all("$DLSAN_PACKAGE" in line for line in installs)


@pytest.mark.slow
def test_the_install_step_works_with_a_wheel_of_this_checkout(project, tmp_path, checkout_wheel):
    package = WORKFLOW["env"]["DLSAN_PACKAGE"]
    assert checkout_wheel.name == Path(package).name, "the workflow names another version's wheel"
    (project / package).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkout_wheel, project / package)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=True)  # libcst and click without a download
    (install,) = {step["run"] for step in _steps("annotations") if "pip install" in step.get("run", "")}
    bin_dir = env_dir / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DLSAN_PACKAGE": package}
    env.pop("PYTHONPATH", None)
    subprocess.run(install, shell=True, cwd=project, check=True, capture_output=True, timeout=600, env=env)
    check = subprocess.run(_dlsan_command("annotations"), shell=True, cwd=project, capture_output=True,
                           text=True, timeout=300, env={**env, "DLSAN_CACHE_DIR": str(tmp_path / "cache")})
    assert check.returncode == 1 and check.stdout.startswith("::error title=dlsan (DLS602)"), check.stderr
