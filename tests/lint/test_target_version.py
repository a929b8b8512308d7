"""Whether a file parses is decided by libcst at the target version, the same on every interpreter.

Before, a CPython ``compile()`` pre-check decided: Python 3.12 syntax was a DLS000 when dlsan ran
on 3.11 and passed on 3.13.
"""

from __future__ import annotations

import json

import pytest

from dlsan.lint.api import lint_source
from dlsan.lint.pyversion import NEWEST, TargetVersionError, parse_version_name, requires_python_floor

PY312_TYPE_PARAMS = "import torch\n\ndef first[T](items: list[T]) -> T:\n    return items[0]\n"
PY312_FSTRING = "import torch\nname = f\"{'-'.join(\"ab\")}\"\n"
MATCH_NO_TORCH = "def kind(x):\n    match x:\n        case 1:\n            return 'one'\n"


def codes(findings):
    return [f.code for f in findings]


@pytest.mark.parametrize("source", [PY312_TYPE_PARAMS, PY312_FSTRING, "type Vector = list[float]\n",
                                    "try:\n    pass\nexcept* ValueError:\n    pass\n", MATCH_NO_TORCH])
def test_newest_syntax_parses_at_the_default_target_whatever_runs_dlsan(source):
    assert lint_source(source) == []


@pytest.mark.parametrize("source, target, needs", [
    (PY312_TYPE_PARAMS, "py311", "3.12"),
    (PY312_FSTRING, "py311", "3.12"),
    ("type Vector = list[float]\n", "py310", "3.12"),
    ("try:\n    pass\nexcept* ValueError:\n    pass\n", "py310", "3.11"),
    ("def f(*args: *Ts):\n    pass\n", "py310", "3.11"),
    ("x = a[*b]\n", "py310", "3.11"),
    ("def f[T = int]():\n    pass\n", "py312", "3.13"),
    (MATCH_NO_TORCH, "py39", "3.10"),  # prefiltered out (no torch): still checked for its target
])
def test_syntax_newer_than_the_target_is_a_dls000(source, target, needs):
    (finding,) = lint_source(source, target_version=parse_version_name(target))
    assert finding.code == "DLS000"
    assert f"target-version {target}" in finding.message and f"Python {needs}" in finding.message


@pytest.mark.parametrize("source, target", [
    (PY312_TYPE_PARAMS, "py312"), (MATCH_NO_TORCH, "py310"),
    ("x = f'{a!r:>{width}}'\ny = f\"{d['key']}\"\n", "py39"),
    ("with (open('a') as f, open('b') as g):\n    pass\n", "py39"),
])
def test_syntax_of_the_target_or_older_is_fine(source, target):
    assert lint_source(source, target_version=parse_version_name(target)) == []


@pytest.mark.parametrize("spec, floor", [
    (">=3.9", (3, 9)), (">=3.10,<4", (3, 10)), ("~=3.11", (3, 11)), ("==3.12.*", (3, 12)),
    (">3.9", (3, 10)), (">=3.7", (3, 9)), (">=3.20", NEWEST), ("<4", None),
])
def test_requires_python_floor(spec, floor):
    assert requires_python_floor(spec) == floor


def test_unknown_version_names_are_refused():
    with pytest.raises(TargetVersionError):
        parse_version_name("py27")


def _check(run_dlsan, cwd, *args):
    result = run_dlsan("check", "--format", "json", *args, ".", cwd=cwd)
    return result, [f["code"] for f in json.loads(result.stdout or "[]")]


def test_requires_python_sets_the_default_target(run_dlsan, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nrequires-python = ">=3.9"\n')
    (tmp_path / "m.py").write_text(MATCH_NO_TORCH)
    assert _check(run_dlsan, tmp_path)[1] == ["DLS000"]
    assert _check(run_dlsan, tmp_path, "--target-version", "py310")[1] == []


def test_config_target_version_overrides_requires_python_and_the_cli_overrides_both(run_dlsan, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nrequires-python = ">=3.9"\n[tool.dlsan]\ntarget-version = "py310"\n')
    (tmp_path / "m.py").write_text(MATCH_NO_TORCH)
    assert _check(run_dlsan, tmp_path)[1] == []
    assert _check(run_dlsan, tmp_path, "--target-version", "py39")[1] == ["DLS000"]


@pytest.mark.parametrize("value", ['"py27"', "39", '"3.9"'])
def test_a_bad_target_version_in_config_is_exit_2_naming_the_key(run_dlsan, tmp_path, value):
    (tmp_path / "pyproject.toml").write_text(f"[tool.dlsan]\ntarget-version = {value}\n")
    (tmp_path / "m.py").write_text("x = 1\n")
    result = run_dlsan("check", ".", cwd=tmp_path)
    assert result.returncode == 2 and "target-version" in result.stderr and "Traceback" not in result.stderr
