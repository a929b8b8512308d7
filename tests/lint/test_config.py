"""[tool.dlsan] discovery, validation (exit 2 naming the key), exclusion and per-file ignores."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dlsan.config import ConfigError, find_config, load_config, parse_table

BUGGY = "import torch\nstate = torch.load('ckpt.pt')\nopt = torch.optim.Adam(p, weight_decay=1e-4)\n"


def _codes(result) -> list[tuple[str, str]]:
    return sorted((f["path"], f["code"]) for f in json.loads(result.stdout))


def test_config_found_by_walking_up(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.dlsan]\nignore = ['DLS501']\n")
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)
    assert find_config(nested) == tmp_path / "pyproject.toml"
    assert load_config(find_config(nested)).ignore == ["DLS501"]


def test_pyproject_without_dlsan_table_is_skipped(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.dlsan]\nselect = ['DLS6']\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert find_config(inner) == tmp_path / "pyproject.toml"


@pytest.mark.parametrize(
    "table, named",
    [
        ({"selct": ["DLS1"]}, "'selct'"),
        ({"select": "DLS1"}, "select"),
        ({"ignore": [1]}, "ignore"),
        ({"per-file-ignores": {"tests/*": "DLS301"}}, "per-file-ignores"),
        ({"rule-options": ["x"]}, "rule-options"),
    ],
)
def test_bad_config_names_the_key(table, named):
    with pytest.raises(ConfigError, match=named):
        parse_table(table)


def test_unknown_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match="did you mean 'select'"):
        parse_table({"selct": []})


@pytest.mark.parametrize(
    "config, fragment",
    [
        ("[tool.dlsan]\nselct = ['DLS1']\n", "selct"),
        ("[tool.dlsan]\nselect = ['DLS9']\n", "DLS9"),
        ("[tool.dlsan]\nignore = 'DLS1'\n", "ignore"),
        ("[tool.dlsan.rule-options.DLS602]\nnope = 1\n", "nope"),
        ("[tool.dlsan.rule-options.DLS777]\nx = 1\n", "DLS777"),
        ("[tool.dlsan]\nrule-dirs = ['missing']\n", "missing"),
        ("[tool.dlsan\n", "TOML"),
    ],
)
def test_cli_exits_2_on_bad_config(run_dlsan, tmp_path, config, fragment):
    (tmp_path / "pyproject.toml").write_text(config)
    (tmp_path / "a.py").write_text(BUGGY)
    result = run_dlsan("check", "a.py", cwd=tmp_path)
    assert result.returncode == 2
    assert fragment in result.stderr and "Traceback" not in result.stderr


def test_select_ignore_per_file_ignores_and_cli_override(run_dlsan, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.dlsan]\nignore = ['DLS501']\n[tool.dlsan.per-file-ignores]\n'scripts/*' = ['DLS602']\n"
    )
    (tmp_path / "scripts").mkdir()
    (tmp_path / "a.py").write_text(BUGGY)
    (tmp_path / "scripts" / "b.py").write_text(BUGGY)
    result = run_dlsan("check", "--format", "json", ".", cwd=tmp_path)
    assert _codes(result) == [("a.py", "DLS602")]
    # as in Ruff, a command-line select starts over: the config's ignore no longer applies
    result = run_dlsan("check", "--format", "json", "--select", "DLS501", ".", cwd=tmp_path)
    assert _codes(result) == [("a.py", "DLS501"), ("scripts/b.py", "DLS501")]
    # a later source's extend-select re-enables what it names
    result = run_dlsan("check", "--format", "json", "--extend-select", "DLS5", "--ignore", "DLS602", ".",
                       cwd=tmp_path)
    assert _codes(result) == [("a.py", "DLS501"), ("scripts/b.py", "DLS501")]


def test_exclude_and_gitignore(run_dlsan, tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "pyproject.toml").write_text("[tool.dlsan]\nextend-exclude = ['legacy']\n")
    (tmp_path / ".gitignore").write_text("generated/\n")
    for folder in ("legacy", "generated", "src", ".venv"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "m.py").write_text(BUGGY)
    result = run_dlsan("check", "--format", "json", ".", cwd=tmp_path)
    assert {path for path, _ in _codes(result)} == {"src/m.py"}
    # an explicitly named file is checked unless --force-exclude is given
    assert _codes(run_dlsan("check", "--format", "json", "legacy/m.py", cwd=tmp_path))
    assert not _codes(run_dlsan("check", "--format", "json", "--force-exclude", "legacy/m.py", cwd=tmp_path))


def test_project_local_rule_directory(run_dlsan, tmp_path):
    rules = tmp_path / "lint_rules"
    rules.mkdir()
    (rules / "no_print.py").write_text('''
import libcst as cst
from dlsan.lint.rule import Invalid, Rule, Valid


class NoPrintInTraining(Rule):
    """
    ## What it does
    Flags print calls.

    ## Why is this bad?
    Use a logger.

    ## Example
    print(loss)

    ## Use instead
    log.info(loss)
    """

    code = "PRJ901"
    name = "no-print"
    message = "use a logger"
    requires = ("print",)
    VALID = [Valid("log.info(x)")]
    INVALID = [Invalid("print(x)")]

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "print":
            self.report(node)
''')
    (tmp_path / "pyproject.toml").write_text("[tool.dlsan]\nrule-dirs = ['lint_rules']\nextend-select = ['PRJ901']\n")
    (tmp_path / "a.py").write_text("print('hi')\n")
    result = run_dlsan("check", "--format", "json", "a.py", cwd=tmp_path)
    assert _codes(result) == [("a.py", "PRJ901")]


def test_rule_options_are_validated_by_type(tmp_path):
    from dlsan.lint.api import rule_settings
    from dlsan.lint.rule import Rule

    class WithOption(Rule):
        code = "DLS990"
        name = "with-option"
        options = {"names": ["evaluate"]}

    assert rule_settings([WithOption], {"DLS990": {"names": ["score"]}}) == {"DLS990": {"names": ["score"]}}
    with pytest.raises(ConfigError, match="must be list"):
        rule_settings([WithOption], {"with-option": {"names": "score"}})


def test_config_file_is_given_explicitly(run_dlsan, tmp_path):
    config = tmp_path / "elsewhere.toml"
    config.write_text("[tool.dlsan]\nselect = ['DLS501']\n")
    (tmp_path / "a.py").write_text(BUGGY)
    result = run_dlsan("check", "--format", "json", "--config", str(config), "a.py", cwd=tmp_path)
    assert _codes(result) == [("a.py", "DLS501")]


def test_cli_select_overrides_config_select(run_dlsan, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.dlsan]\nselect = ['DLS501']\n")
    (tmp_path / "a.py").write_text(BUGGY)
    assert _codes(run_dlsan("check", "--format", "json", "--select", "DLS602", "a.py", cwd=tmp_path)) == [
        ("a.py", "DLS602")
    ]




def test_an_ignored_directory_named_explicitly_is_checked(run_dlsan, tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".gitignore").write_text("vendor/\n")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "m.py").write_text(BUGGY)
    assert {path for path, _ in _codes(run_dlsan("check", "--format", "json", ".", cwd=tmp_path))} == set()
    assert _codes(run_dlsan("check", "--format", "json", "vendor", cwd=tmp_path))
