"""DLS602 follows the targeted PyTorch version: CLI flag > [tool.dlsan] > the project's torch pin > 2.6."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlsan.lint.api import lint_source
from dlsan.torch_target import declared_version, requirement_minimum, resolve

BARE = "import torch\nstate = torch.load('ckpt.pt')\n"
EXPLICIT_UNSAFE = "import torch\nstate = torch.load('ckpt.pt', weights_only=False)\n"


def _dls602(source: str, version: str) -> list[str]:
    return [f.message for f in lint_source(source, select=["DLS602"], target_torch_version=version)]


@pytest.mark.parametrize("line, minimum", [
    ("torch==2.4.1", "2.4"), ("torch>=2.1,<3", "2.1"), ("torch ~= 2.3.0", "2.3"),
    ("torch[opt]>=2.2; python_version > '3.8'", "2.2"), ("Torch>=1.13", "1.13"),
    ("torch", None), ("torch<2.5", None), ("torchvision>=0.15", None), ("torch-directml>=0.2", None),
    ("# torch==1.0", None),
])
def test_requirement_minimum(line, minimum):
    assert requirement_minimum(line) == minimum


def test_declared_version_is_the_lowest_of_pyproject_and_requirements(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["torch>=2.3", "numpy"]\n')
    assert declared_version(tmp_path) == "2.3"
    (tmp_path / "requirements-dev.txt").write_text("-r requirements.txt\ntorch==2.1.2\n")
    assert declared_version(tmp_path) == "2.1"


def test_unreadable_pins_declare_nothing(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[project\n")
    (tmp_path / "requirements.txt").write_bytes(b"\xff\xfe torch==1.0")
    assert declared_version(tmp_path) is None
    assert resolve(None, None, tmp_path) == "2.6"


def test_flag_beats_config_beats_pin(tmp_path: Path):
    (tmp_path / "requirements.txt").write_text("torch==2.0.1\n")
    assert resolve(None, None, tmp_path) == "2.0"
    assert resolve(None, "2.7", tmp_path) == "2.7"
    assert resolve("2.4", "2.7", tmp_path) == "2.4"


def test_from_2_6_only_the_explicit_opt_out_is_flagged():
    assert _dls602(BARE, "2.6") == []
    (message,) = _dls602(EXPLICIT_UNSAFE, "2.8")
    assert "since PyTorch 2.6 the default `weights_only=True`" in message


def test_before_2_6_the_default_is_flagged_with_a_true_message():
    (message,) = _dls602(BARE, "2.4")
    assert "in PyTorch 2.4 (the safe default arrived in 2.6)" in message
    assert _dls602(EXPLICIT_UNSAFE, "2.4") == []


def test_pickle_module_turns_the_safe_default_off():
    source = "import torch, dill\nsd = torch.load(f, pickle_module=dill)\n"
    (message,) = _dls602(source, "2.6")
    assert "pickle_module=" in message
    assert _dls602("import torch, dill\nsd = torch.load(f, pickle_module=dill, weights_only=True)\n", "2.6") == []


def test_whole_model_load_gets_state_dict_advice_and_no_fix():
    # the tutorials' whole-model pickle: torch.save(model, PATH) ... model = torch.load(PATH); model.eval()
    source = "import torch\nmodel = torch.load('model.pth')\nmodel.eval()\nout = model(x)\n"
    (finding,) = lint_source(source, select=["DLS602"], target_torch_version="2.4")
    assert "state_dict()" in finding.message and finding.fix is None
    (finding,) = lint_source(source.replace("'model.pth'", "'model.pth', weights_only=False"),
                             select=["DLS602"], target_torch_version="2.6")
    assert "load_state_dict" in finding.message


def test_cli_reads_the_project_pin_and_the_flag(run_dlsan, tmp_path: Path):
    (tmp_path / "train.py").write_text(BARE)

    def codes(*args: str) -> list[str]:
        result = run_dlsan("check", "--no-cache", "--format", "json", *args, ".", cwd=tmp_path)
        return [f["code"] for f in json.loads(result.stdout)]

    assert codes() == []
    (tmp_path / "requirements.txt").write_text("torch>=2.2\n")
    assert codes() == ["DLS602"]
    assert codes("--target-torch-version", "2.6") == []


def test_config_key_and_bad_values_exit_2(run_dlsan, tmp_path: Path):
    (tmp_path / "train.py").write_text(BARE)
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\ntarget-torch-version = "2.3"\n')
    result = run_dlsan("check", "--no-cache", "--format", "json", ".", cwd=tmp_path)
    assert [f["code"] for f in json.loads(result.stdout)] == ["DLS602"]
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\ntarget-torch-version = 2.3\n')
    result = run_dlsan("check", ".", cwd=tmp_path)
    assert result.returncode == 2 and "target-torch-version" in result.stderr
    result = run_dlsan("check", "--target-torch-version", "latest", ".", cwd=tmp_path)
    assert result.returncode == 2 and "latest" in result.stderr
