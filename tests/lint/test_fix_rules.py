"""The training-loop and API rules' fixes through the CLI: ``--fix`` applies safe fixes only,
``--unsafe-fixes`` the rest, ``--diff`` writes nothing; fixed files parse, and fixing again changes
nothing.  Overlapping fixes of different rules in one expression are settled by re-running."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_target import target_torch_version

FIXES = Path(__file__).resolve().parents[2] / "fixtures" / "fixes"
CODES = ("DLS501", "DLS502", "DLS503", "DLS601", "DLS602", "DLS603")
FIXTURES = sorted(p for p in FIXES.glob("*.in.py") if p.name.split("_", 1)[0].upper() in CODES)
SAFE_CODES = {"DLS603"}


def dlsan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlsan", "check", "--no-cache", *args],
                          capture_output=True, text=True, check=False)


def copy_of(fixture: Path, tmp_path: Path) -> Path:
    target = tmp_path / fixture.name.replace(".in.py", ".py")
    shutil.copy(fixture, target)
    return target


def expected_of(fixture: Path) -> str:
    return fixture.with_name(fixture.name.replace(".in.py", ".out.py")).read_text(encoding="utf-8")


def code_of(fixture: Path) -> str:
    return fixture.name.split("_", 1)[0].upper()


def target_of(fixture: Path) -> tuple[str, str]:
    return "--target-torch-version", target_torch_version(fixture.read_text(encoding="utf-8"))


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_unsafe_fixes_give_the_expected_file_and_are_idempotent(fixture, tmp_path):
    path = copy_of(fixture, tmp_path)
    dlsan("--select", code_of(fixture), *target_of(fixture), "--fix", "--unsafe-fixes", str(path))
    fixed = path.read_text(encoding="utf-8")
    assert fixed == expected_of(fixture)
    compile(fixed, str(path), "exec")
    dlsan("--select", code_of(fixture), *target_of(fixture), "--fix", "--unsafe-fixes", str(path))
    assert path.read_text(encoding="utf-8") == fixed


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_plain_fix_applies_only_safe_fixes(fixture, tmp_path):
    path = copy_of(fixture, tmp_path)
    dlsan("--select", code_of(fixture), *target_of(fixture), "--fix", str(path))
    expected = expected_of(fixture) if code_of(fixture) in SAFE_CODES else fixture.read_text(encoding="utf-8")
    assert path.read_text(encoding="utf-8") == expected


def test_diff_shows_fixes_without_writing(tmp_path):
    fixture = FIXES / "dls603_inference.in.py"
    path = copy_of(fixture, tmp_path)
    result = dlsan("--select", "DLS603", "--diff", str(path))
    assert result.returncode == 1
    assert "+        logits = model(batch" in result.stdout
    assert path.read_text(encoding="utf-8") == fixture.read_text(encoding="utf-8")


def test_overlapping_fixes_of_several_rules_settle(tmp_path):
    path = tmp_path / "overlap.py"
    path.write_text(
        "import torch\nimport torch.nn.functional as F\nfrom torchvision.models import resnet18\n"
        "model = resnet18()\n"
        "loss = F.cross_entropy(F.softmax(model.forward(x), dim=1), y)\n"
        "state = torch.load(path)\n",
        encoding="utf-8",
    )
    dlsan("--select", "DLS502,DLS602,DLS603", "--target-torch-version", "2.5", "--fix", "--unsafe-fixes", str(path))
    fixed = path.read_text(encoding="utf-8")
    assert fixed == (
        "import torch\nimport torch.nn.functional as F\nfrom torchvision.models import resnet18\n"
        "model = resnet18()\n"
        "loss = F.cross_entropy(model(x), y)\n"
        "state = torch.load(path, weights_only=True)\n"
    )
    assert dlsan("--select", "DLS502,DLS602,DLS603", "--target-torch-version", "2.5", str(path)).returncode == 0
