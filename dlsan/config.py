"""``[tool.dlsan]`` in pyproject.toml: found by walking up from the checked path, validated strictly.

A bad key or value raises :class:`ConfigError` naming it; the CLI turns that into exit code 2.

    [tool.dlsan]
    select = ["DLS1", "DLS501"]          # default: every rule enabled by default
    extend-select = ["DLS202"]
    ignore = ["DLS602"]
    per-file-ignores = { "tests/*" = ["DLS301"] }
    exclude = ["notebooks", "legacy/*.py"]
    extend-exclude = []
    rule-dirs = ["tools/dlsan_rules"]    # project-local rules, written like the built-in ones
    target-torch-version = "2.4"         # default: the project's torch pin, else 2.6
    target-version = "py39"              # default: [project] requires-python, else the newest
    [tool.dlsan.rule-options.DLS301]
    report-unresolved = true             # each rule's options are on its page, docs/rules/CODE.md
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlsan import torch_target
from dlsan.lint.pyversion import NEWEST, PythonVersion, TargetVersionError, parse_version_name, requires_python_floor

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".eggs", "*.egg-info", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".dlsan_cache", "node_modules", "build", "dist", "site-packages",
    ".ipynb_checkpoints",
)

_LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude", "rule-dirs")
_KNOWN_KEYS = (*_LIST_KEYS, "per-file-ignores", "rule-options", "target-version", "target-torch-version")


class ConfigError(Exception):
    """Invalid configuration; the message names the file, the key and what is wrong."""


@dataclass
class Config:
    path: Path | None = None
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    extend_select: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    rule_dirs: list[Path] = field(default_factory=list)
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``None``: not configured (the project's torch pin decides, see dlsan.torch_target)
    target_torch_version: str | None = None
    target_version: PythonVersion | None = None
    #: the lower bound of the project's ``requires-python``, if it declares one
    requires_python: PythonVersion | None = None

    @property
    def root(self) -> Path:
        """The directory relative to which config paths and patterns are read."""
        return self.path.parent if self.path is not None else Path.cwd()

    def existing_rule_dirs(self) -> list[Path]:
        """``rule_dirs``, each checked to exist (raises ConfigError naming the missing one): a
        directory that is gone must fail every run, not only those that load the rules."""
        for directory in self.rule_dirs:
            if not directory.is_dir():
                raise ConfigError(f"{self.path}: [tool.dlsan] rule-dirs: directory {directory} does not exist")
        return self.rule_dirs

    @property
    def python(self) -> PythonVersion:
        """The Python version checked code is written for (see :mod:`dlsan.lint.syntax`)."""
        return self.target_version or self.requires_python or NEWEST


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml with a ``[tool.dlsan]`` table, walking up from ``start``."""
    start = start.resolve()
    for directory in [start, *start.parents] if start.is_dir() else start.parents:
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as error:
                raise ConfigError(f"{candidate}: cannot read TOML: {error}") from error
            if "dlsan" in data.get("tool", {}):
                return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as error:
        raise ConfigError(f"{path}: cannot read TOML: {error}") from error


def _requires_python(data: dict[str, Any], path: Path) -> PythonVersion | None:
    project = data.get("project", {})
    spec = project.get("requires-python") if isinstance(project, dict) else None
    if spec is None:
        return None
    if not isinstance(spec, str):
        raise ConfigError(f"{path}: [project] requires-python must be a string, got {spec!r}")
    return requires_python_floor(spec)


def _nearest_pyproject(start: Path) -> Path | None:
    start = start.resolve()
    for directory in [start, *start.parents] if start.is_dir() else start.parents:
        if (directory / "pyproject.toml").is_file():
            return directory / "pyproject.toml"
    return None


def project_root(start: Path, config_path: Path | None = None) -> Path:
    """The directory of the project ``start`` belongs to: that of ``config_path``, else of the
    nearest pyproject.toml with ``[tool.dlsan]``, else the current directory (where the cache
    lives, and what config paths are relative to)."""
    found = config_path if config_path is not None else find_config(start)
    return found.resolve().parent if found is not None else Path.cwd()


def load_config(path: Path | None, start: Path | None = None) -> Config:
    """The config in ``path`` (None: defaults, with ``requires-python`` from the pyproject.toml
    nearest to ``start``, the project the checked files belong to)."""
    if path is None:
        config = Config()
        project = _nearest_pyproject(start or Path.cwd())
        if project is not None:
            config.requires_python = _requires_python(_read_toml(project), project)
        return config
    data = _read_toml(path)
    # pyproject.toml-shaped files hold a [tool.dlsan] table; a dedicated file may hold the keys bare
    table = data.get("tool", {}).get("dlsan", {}) if "tool" in data or path.name == "pyproject.toml" else data
    config = parse_table(table, path)
    config.requires_python = _requires_python(data, path)
    return config


def _where(path: Path | None, key: str) -> str:
    return f"{path or '<config>'}: [tool.dlsan] {key}"


def _string_list(table: dict[str, Any], key: str, path: Path | None) -> list[str] | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{_where(path, key)} must be a list of strings, got {value!r}")
    return value


def normalise_pattern(pattern: str) -> str:
    """A path pattern as files are matched: ``/`` separators, no leading ``./``, and a trailing
    ``/`` (a directory) standing for everything below it."""
    pattern = pattern.replace("\\", "/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern + "*" if pattern.endswith("/") else pattern


def parse_table(table: dict[str, Any], path: Path | None = None) -> Config:
    for key in table:
        if key not in _KNOWN_KEYS:
            close = difflib.get_close_matches(key, _KNOWN_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{_where(path, repr(key))}: unknown key{hint}; known keys: {', '.join(_KNOWN_KEYS)}")
    config = Config(path=path)
    config.select = _string_list(table, "select", path)
    config.ignore = _string_list(table, "ignore", path) or []
    config.extend_select = _string_list(table, "extend-select", path) or []
    exclude = _string_list(table, "exclude", path)
    if exclude is not None:
        config.exclude = [normalise_pattern(p) for p in exclude]
    config.exclude += [normalise_pattern(p) for p in _string_list(table, "extend-exclude", path) or []]
    config.rule_dirs = [config.root / d for d in _string_list(table, "rule-dirs", path) or []]
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict):
        raise ConfigError(f"{_where(path, 'per-file-ignores')} must be a table of pattern = [codes]")
    for pattern, codes in per_file.items():
        if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
            raise ConfigError(f"{_where(path, f'per-file-ignores.{pattern!r}')} must be a list of codes, got {codes!r}")
        config.per_file_ignores[normalise_pattern(pattern)] = codes
    options = table.get("rule-options", {})
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise ConfigError(f"{_where(path, 'rule-options')} must be a table of per-rule tables")
    config.rule_options = options
    if "target-torch-version" in table:
        version = table["target-torch-version"]
        if not torch_target.is_valid(version):
            raise ConfigError(f"{_where(path, 'target-torch-version')} must be a version string "
                              f"such as \"2.6\", got {version!r}")
        config.target_torch_version = version.strip()
    target = table.get("target-version")
    if target is not None:
        try:
            config.target_version = parse_version_name(target) if isinstance(target, str) else None
        except TargetVersionError as error:
            raise ConfigError(f"{_where(path, 'target-version')}: {error}") from error
        if config.target_version is None:
            raise ConfigError(f"{_where(path, 'target-version')} must be a string such as \"py39\", got {target!r}")
    return config
