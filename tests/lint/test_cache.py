"""The result cache: hits for unchanged files, misses for any change, safe when corrupt or shared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlsan.lint import runner
from dlsan.lint.api import prepare
from dlsan.lint.cache import ResultCache, default_cache_dir
from dlsan.lint.runner import lint_files, run_key

BUGGY = "import torch\nstate = torch.load('ckpt.pt')\n"


@pytest.fixture
def counted(monkeypatch):
    calls: list[str] = []
    real = runner.Linter.lint

    def counting(self, path):
        calls.append(Path(path).name)
        return real(self, path)

    monkeypatch.setattr(runner.Linter, "lint", counting)
    return calls


def _run(paths, cache_dir, select=None):
    run = prepare([Path(paths[0]).parent], select=select)
    cache = ResultCache(cache_dir, run_key(run.plan))
    return lint_files(run.plan, [str(p) for p in paths], jobs=1, cache=cache)


def test_unchanged_files_are_not_linted_again(tmp_path, counted):
    files = [tmp_path / "a.py", tmp_path / "b.py"]
    for f in files:
        f.write_text(BUGGY)
    first = _run(files, tmp_path / "cache")
    assert counted == ["a.py", "b.py"]
    second = _run(files, tmp_path / "cache")
    assert counted == ["a.py", "b.py"]
    assert [r.findings for r in first] == [r.findings for r in second]


def test_a_changed_file_or_selection_is_linted_again(tmp_path, counted):
    target = tmp_path / "a.py"
    target.write_text(BUGGY)
    _run([target], tmp_path / "cache")
    target.write_text(BUGGY + "other = torch.load('x')\n")
    (result,) = _run([target], tmp_path / "cache")
    assert len(result.findings) == 2 and counted == ["a.py", "a.py"]
    (result,) = _run([target], tmp_path / "cache", select=["DLS501"])
    assert result.findings == [] and counted == ["a.py", "a.py", "a.py"]


def test_moved_file_keeps_its_entry_and_gets_its_new_path(tmp_path, counted):
    (tmp_path / "a.py").write_text(BUGGY)
    _run([tmp_path / "a.py"], tmp_path / "cache")
    (tmp_path / "a.py").rename(tmp_path / "b.py")
    (result,) = _run([tmp_path / "b.py"], tmp_path / "cache")
    assert counted == ["a.py"] and result.findings[0].path.endswith("b.py")


@pytest.mark.parametrize("garbage", [b"{not json", b"[]", b'{"key": 1}', b"\xff\xfe", b""])
def test_corrupt_cache_is_ignored_and_rebuilt(tmp_path, garbage):
    (tmp_path / "a.py").write_text(BUGGY)
    _run([tmp_path / "a.py"], tmp_path / "cache")
    (cache_file,) = (tmp_path / "cache").glob("results-*.json")
    cache_file.write_bytes(garbage)
    (result,) = _run([tmp_path / "a.py"], tmp_path / "cache")
    assert [f.code for f in result.findings] == ["DLS602"]
    assert json.loads(cache_file.read_text())["entries"]


def test_corrupt_entry_is_a_miss(tmp_path, counted):
    (tmp_path / "a.py").write_text(BUGGY)
    _run([tmp_path / "a.py"], tmp_path / "cache")
    (cache_file,) = (tmp_path / "cache").glob("results-*.json")
    data = json.loads(cache_file.read_text())
    data["entries"] = {key: [{"bogus": 1}] for key in data["entries"]}
    cache_file.write_text(json.dumps(data))
    (result,) = _run([tmp_path / "a.py"], tmp_path / "cache")
    assert [f.code for f in result.findings] == ["DLS602"] and counted == ["a.py", "a.py"]


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DLSAN_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("DLSAN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "dlsan"


def test_no_cache_writes_nothing(run_dlsan, tmp_path):
    (tmp_path / "a.py").write_text(BUGGY)
    env_script = (
        "import os, sys, runpy\n"
        f"os.environ['DLSAN_CACHE_DIR'] = {str(tmp_path / 'c')!r}\n"
        "sys.argv = ['dlsan', 'check', '--no-cache', 'a.py']\n"
        "runpy.run_module('dlsan', run_name='__main__')\n"
    )
    subprocess.run([sys.executable, "-c", env_script], cwd=tmp_path, capture_output=True)
    assert not (tmp_path / "c").exists()


def test_concurrent_runs_leave_a_valid_cache(tmp_path):
    for i in range(30):
        (tmp_path / f"m{i}.py").write_text(BUGGY + f"x{i} = 1\n")
    env = {**os.environ, "DLSAN_CACHE_DIR": str(tmp_path / "shared-cache")}
    command = [sys.executable, "-m", "dlsan", "check", "--format", "json", "--jobs", "1", "."]
    procs = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(len(json.loads(out)) == 30 for out in outputs)
    (cache_file,) = (tmp_path / "shared-cache").glob("results-*.json")
    assert len(json.loads(cache_file.read_text())["entries"]) == 30
    assert not list((tmp_path / "shared-cache").glob(".tmp-*"))


def test_a_fully_cached_run_imports_no_rule_and_no_libcst(tmp_path):
    """Importing libcst and the rules costs more than the rest of a warm run: it must not happen."""
    (tmp_path / "a.py").write_text(BUGGY)
    script = (
        "import runpy, sys\n"
        "sys.argv = ['dlsan', 'check', 'a.py']\n"
        "try:\n    runpy.run_module('dlsan', run_name='__main__')\n"
        "except SystemExit as exit:\n    code = exit.code\n"
        "print(code, 'libcst' in sys.modules, any(m.startswith('dlsan._loaded_rules') for m in sys.modules))\n"
    )
    env = {**os.environ, "DLSAN_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
            for _ in range(2)]
    assert runs[0].stdout.split()[-3:] == ["1", "True", "True"]
    assert runs[1].stdout.split()[-3:] == ["1", "False", "False"]
    assert "DLS602" in runs[1].stdout


def test_a_changed_rule_file_invalidates_the_manifest(tmp_path):
    from dlsan.lint.manifest import rule_infos

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.py").write_text(RULE.format(code="PRJ951", code_lower="prj951"))
    assert [i.code for i in rule_infos([rules], tmp_path / "cache")] == ["PRJ951"]
    from dlsan.lint.registry import load_rules

    load_rules.cache_clear()  # a process loads a rule directory once; a new run is a new process
    (rules / "r.py").unlink()
    (rules / "r2.py").write_text(RULE.format(code="PRJ952", code_lower="prj952"))
    assert [i.code for i in rule_infos([rules], tmp_path / "cache")] == ["PRJ952"]
    assert len(list((tmp_path / "cache").glob("rules-*.json"))) == 2


RULE = '''
from dlsan.lint.rule import Invalid, Rule, Valid


class R(Rule):
    """
    ## What it does
    Nothing.

    ## Why is this bad?
    It is a test double.

    ## Example
    x

    ## Use instead
    y
    """

    code = "{code}"
    name = "rule-{code_lower}"
    message = "m"
    VALID = [Valid("x")]
    INVALID = [Invalid("x")]
'''
