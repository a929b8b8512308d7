"""``pytest --dlsan``: a NaN in a model's unit test fails it, naming the layer; the plugin is
registered through the ``pytest11`` entry point and stays free of torch without the option."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from dlsan.integrations.autoinstrument import AutoInstrument

pytest_plugins = ["pytester"]

MODELS = textwrap.dedent(
    """
    import pytest
    import torch
    from torch import nn

    class Log(nn.Module):
        def forward(self, x):
            return torch.log(x)

    def model():
        return nn.Sequential(nn.Linear(4, 4), nn.Tanh(), Log(), nn.Linear(4, 2))
    """
)


def _run(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_model=MODELS + textwrap.dedent(body))
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def test_a_nan_fails_the_test_naming_the_layer(pytester: pytest.Pytester) -> None:
    body = """
    def test_forward():
        model()(torch.randn(3, 4))  # log of negative tanh outputs: NaN, unnoticed without dlsan
    """
    result = _run(pytester, body, "--dlsan")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NonFiniteError*module '2' (Log)*"])
    _run(pytester, body).assert_outcomes(passed=1)


def test_a_model_built_in_a_fixture_is_watched(pytester: pytest.Pytester) -> None:
    body = """
    @pytest.fixture
    def net():
        return nn.Sequential(nn.Linear(4, 4), model())

    def test_forward(net):
        net(torch.randn(3, 4))
    """
    _run(pytester, body, "--dlsan").stdout.fnmatch_lines(["*NonFiniteError*module '1.2' (Log)*"])


def test_hooks_are_removed_after_each_test(pytester: pytest.Pytester) -> None:
    body = """
    SHARED = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    ORIGINAL_CALL = nn.Module.__call__

    def test_first():
        SHARED(torch.randn(3, 4))
        assert SHARED[0]._forward_hooks and nn.Module.__call__ is not ORIGINAL_CALL

    def test_second():
        assert not any(m._forward_hooks or m._forward_pre_hooks for m in SHARED.modules())
    """
    _run(pytester, body, "--dlsan", "-p", "no:randomly").assert_outcomes(passed=2)
    assert nn.Module.__call__ is nn.Module._wrapped_call_impl  # restored in this process too


def test_unknown_check_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "def test_nothing():\n    pass\n", "--dlsan", "--dlsan-checks=nonfinite,bogus")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown check(s) bogus*"])


def test_without_the_option_the_plugin_does_not_import_torch(tmp_path: Path) -> None:
    (tmp_path / "test_light.py").write_text("import sys\n\ndef test_light():\n    assert 'torch' not in sys.modules\n")
    code = (
        "import sys, pytest\n"
        "rc = pytest.main(['--help']) + pytest.main(['-q', '-p', 'no:cacheprovider', 'test_light.py'])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--dlsan" in done.stdout  # the entry point did load the plugin


class Log(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x)


def test_a_submodule_called_alone_is_seen_by_its_models_sanitizer() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Tanh(), Log()))
    with AutoInstrument(on_error="record") as auto:
        model(torch.ones(2, 4))
        model[1](-torch.ones(2, 4))  # direct call of a watched sub-module
        (san,) = auto.sanitizers
        assert [f.module for f in san.findings] == ["1.1"]


def test_a_larger_model_takes_over_a_watched_one() -> None:
    inner = nn.Sequential(nn.Tanh(), Log())
    with AutoInstrument(on_error="record") as auto:
        inner(torch.ones(2, 4))
        first = auto.sanitizers[0]
        outer = nn.Sequential(nn.Linear(4, 4), inner)
        outer(-torch.ones(2, 4) * 100)
        (san,) = auto.sanitizers
        assert not first.attached and san.model is outer
        assert [f.module for f in san.findings] == ["1.1"]
    assert not san.attached and nn.Module.__call__ is nn.Module._wrapped_call_impl
