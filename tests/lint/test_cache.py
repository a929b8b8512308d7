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
from dlsan.lint.cache import ResultCache, cache_dir_for
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


def test_cache_dir_is_project_local_unless_moved(monkeypatch, tmp_path):
    monkeypatch.delenv("DLSAN_CACHE_DIR", raising=False)
    assert cache_dir_for(tmp_path) == tmp_path / ".dlsan_cache"
    monkeypatch.setenv("DLSAN_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_dir_for(tmp_path) == tmp_path / "explicit"
    assert cache_dir_for(tmp_path, tmp_path / "flag") == tmp_path / "flag"


def _cli(args, cwd, env_cache=None):
    env = {k: v for k, v in os.environ.items() if k != "DLSAN_CACHE_DIR"}
    if env_cache is not None:
        env["DLSAN_CACHE_DIR"] = str(env_cache)
    return subprocess.run([sys.executable, "-m", "dlsan", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_default_cache_is_next_to_the_config_and_ignores_itself(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.dlsan]\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text(BUGGY)
    assert _cli(["check", "a.py"], tmp_path / "src").returncode == 1
    cache = tmp_path / ".dlsan_cache"
    assert list(cache.glob("results-*.json")) and (cache / ".gitignore").read_text().splitlines()[-1] == "*"
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout
    assert ".dlsan_cache" not in status


def test_cache_dir_option_and_environment_move_it(tmp_path):
    (tmp_path / "a.py").write_text(BUGGY)
    _cli(["check", "--cache-dir", str(tmp_path / "flag"), "a.py"], tmp_path, env_cache=tmp_path / "env")
    _cli(["check", "a.py"], tmp_path, env_cache=tmp_path / "env")
    assert list((tmp_path / "flag").glob("results-*.json")) and list((tmp_path / "env").glob("results-*.json"))
    assert not (tmp_path / ".dlsan_cache").exists()


def test_clean_removes_the_cache_and_only_a_cache(tmp_path):
    (tmp_path / "a.py").write_text(BUGGY)
    _cli(["check", "a.py"], tmp_path)
    assert (tmp_path / ".dlsan_cache").is_dir()
    result = _cli(["clean"], tmp_path)
    assert result.returncode == 0 and not (tmp_path / ".dlsan_cache").exists()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.json").write_text("{}")
    result = _cli(["clean", "--cache-dir", str(precious)], tmp_path)
    assert result.returncode == 2 and (precious / "notes.json").exists()


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


# -- every component of the key: drop one from the key and its test fails ------------------------------

ROLE_RULE = '''
from dlsan.lint.rule import Invalid, Rule, Valid


class PackageMarker(Rule):
    """
    ## What it does
    Flags code in package markers.

    ## Why is this bad?
    A test double whose verdict depends on the path's role.

    ## Example
    x = 1

    ## Use instead
    nothing
    """

    code = "PRJ960"
    name = "code-in-package-marker"
    message = "{message}"
    requires = ("",)
    options = {{"names": ["x"]}}
    VALID = [Valid("y = 1")]
    INVALID = [Invalid("x = 1")]

    def visit_Name(self, node):
        if self.context.path.endswith("__init__.py") and node.value in self.settings["names"]:
            self.report(node)
'''


@pytest.fixture
def role_project(tmp_path):
    (tmp_path / "lint_rules").mkdir()
    (tmp_path / "lint_rules" / "marker.py").write_text(ROLE_RULE.format(message="m1"))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dlsan]\nrule-dirs = ["lint_rules"]\nextend-exclude = ["lint_rules"]\n')
    (tmp_path / "pkg").mkdir()
    return tmp_path


def _json(args, cwd, cache):
    result = _cli(["check", "--format", "json", *args], cwd, env_cache=cache)
    assert result.returncode in (0, 1), result.stderr
    return [(f["path"], f["code"], f["message"]) for f in json.loads(result.stdout)]


def test_key_covers_the_path_role(role_project):
    cache = role_project / "c"
    (role_project / "a.py").write_text("x = 1\n")
    (role_project / "pkg" / "__init__.py").write_text("x = 1\n")
    assert _json(["a.py"], role_project, cache) == []
    assert _json(["pkg/__init__.py"], role_project, cache) == [("pkg/__init__.py", "PRJ960", "m1")]
    (role_project / "b.py").write_text("x = 1\n")
    assert _json(["b.py"], role_project, cache) == []


def test_key_covers_the_content_of_rule_files(role_project):
    cache = role_project / "c"
    rule = role_project / "lint_rules" / "marker.py"
    (role_project / "pkg" / "__init__.py").write_text("x = 1\n")
    assert _json(["."], role_project, cache) == [("pkg/__init__.py", "PRJ960", "m1")]
    stat = rule.stat()
    rule.write_text(ROLE_RULE.format(message="m2"))  # same size, same mtime: only the content differs
    os.utime(rule, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _json(["."], role_project, cache) == [("pkg/__init__.py", "PRJ960", "m2")]


def test_key_covers_rule_options(role_project):
    cache = role_project / "c"
    (role_project / "pkg" / "__init__.py").write_text("x = 1\ny = 2\n")
    assert [f[0] for f in _json(["."], role_project, cache)] == ["pkg/__init__.py"]
    with open(role_project / "pyproject.toml", "a") as handle:
        handle.write('[tool.dlsan.rule-options.PRJ960]\nnames = ["x", "y"]\n')
    assert [f[0] for f in _json(["."], role_project, cache)] == ["pkg/__init__.py"] * 2


def test_key_covers_the_target_version(tmp_path):
    (tmp_path / "m.py").write_text("match x:\n    case 1:\n        pass\n")
    assert _json(["--target-version", "py310", "m.py"], tmp_path, tmp_path / "c") == []
    assert [f[1] for f in _json(["--target-version", "py39", "m.py"], tmp_path, tmp_path / "c")] == ["DLS000"]


def test_key_covers_whether_dls000_is_ignored(tmp_path):
    (tmp_path / "bad.py").write_text("def f(:\n")
    assert _json(["--ignore", "DLS000", "bad.py"], tmp_path, tmp_path / "c") == []
    assert [f[1] for f in _json(["bad.py"], tmp_path, tmp_path / "c")] == ["DLS000"]


def test_key_covers_the_dlsan_version(tmp_path, counted, monkeypatch):
    from dlsan.lint import cache as cache_module

    (tmp_path / "a.py").write_text(BUGGY)
    _run([tmp_path / "a.py"], tmp_path / "cache")
    _run([tmp_path / "a.py"], tmp_path / "cache")
    assert counted == ["a.py"]
    monkeypatch.setattr(cache_module, "__version__", "99.0")
    _run([tmp_path / "a.py"], tmp_path / "cache")
    assert counted == ["a.py", "a.py"]


def test_key_covers_the_engine_sources(tmp_path, counted, monkeypatch):
    from dlsan.lint import cache as cache_module

    (tmp_path / "a.py").write_text(BUGGY)
    _run([tmp_path / "a.py"], tmp_path / "cache")
    real = cache_module._digest_files
    monkeypatch.setattr(cache_module, "_digest_files",
                        lambda paths, content: real(paths, content=content) + ("" if content else "edited"))
    _run([tmp_path / "a.py"], tmp_path / "cache")
    assert counted == ["a.py", "a.py"]


def test_a_missing_rule_dir_is_an_error_with_or_without_a_cache(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\nrule-dirs = ["lint_rules"]\n')
    (tmp_path / "lint_rules").mkdir()
    (tmp_path / "a.py").write_text(BUGGY)
    assert _cli(["check", "a.py"], tmp_path).returncode == 1  # the cache and manifest now exist
    (tmp_path / "lint_rules").rmdir()
    for _ in range(2):
        result = _cli(["check", "a.py"], tmp_path)
        assert result.returncode == 2 and "lint_rules" in result.stderr and "does not exist" in result.stderr
