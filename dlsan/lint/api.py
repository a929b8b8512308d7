"""The linter as a library: lint a string or a set of paths, with the CLI's selection rules."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlsan import torch_target
from dlsan.config import Config, ConfigError, find_config, load_config
from dlsan.lint.files import collect_files
from dlsan.lint.finding import LintFinding
from dlsan.lint.manifest import RuleInfo, rule_infos
from dlsan.lint.pyversion import NEWEST, PythonVersion
from dlsan.lint.registry import RuleLoadError, builtin_rules_dir
from dlsan.lint.runner import FileResult, LintPlan, lint_files
from dlsan.lint.selection import (
    SelectionError,
    SelectorSource,
    effective_ignores,
    parse_error_ignored,
    resolve,
    select_rules,
)

if TYPE_CHECKING:
    from dlsan.lint.rule import Rule


def rule_settings(
    rules: Sequence[RuleInfo] | Sequence[type[Rule]], options: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Validate ``[tool.dlsan.rule-options]`` against the rules' declared options, keyed by code."""
    by_key = {key: rule for rule in rules for key in (rule.code, rule.name)}
    settings: dict[str, dict[str, Any]] = {}
    for key, values in options.items():
        rule = by_key.get(key) or by_key.get(key.upper())
        if rule is None:
            raise ConfigError(f"[tool.dlsan.rule-options] {key!r}: no such rule")
        for option, value in values.items():
            if option not in rule.options:
                known = ", ".join(rule.options) or "none"
                raise ConfigError(f"[tool.dlsan.rule-options.{key}] unknown option {option!r} (known: {known})")
            default = rule.options[option]
            if default is not None and not isinstance(value, type(default)):
                raise ConfigError(f"[tool.dlsan.rule-options.{key}] {option} must be "
                                  f"{type(default).__name__}, got {value!r}")
        settings[rule.code] = dict(values)
    return settings


def with_target_torch_version(
    rules: Sequence[RuleInfo] | Sequence[type[Rule]], settings: dict[str, dict[str, Any]], version: str
) -> dict[str, dict[str, Any]]:
    """``settings`` with the target torch version given to every rule that takes it (a value set
    in that rule's own options wins)."""
    merged = {code: dict(values) for code, values in settings.items()}
    for rule in rules:
        if torch_target.OPTION in rule.options:
            merged.setdefault(rule.code, {}).setdefault(torch_target.OPTION, version)
    return merged


def lint_source(
    source: str,
    path: str = "<string>",
    *,
    select: Iterable[str] | None = ("ALL",),
    ignore: Iterable[str] = (),
    options: dict[str, dict[str, Any]] | None = None,
    target_torch_version: str | None = None,
    target_version: PythonVersion = NEWEST,
) -> list[LintFinding]:
    """Findings for one piece of source text (dedented first, handy in tests and notebooks)."""
    from dlsan.lint.engine import RuleSelection
    from dlsan.lint.engine import lint_source as lint_text
    from dlsan.lint.registry import all_rules

    rules = all_rules()
    chosen = select_rules(rules, select, ignore)
    version = target_torch_version or torch_target.from_environment() or torch_target.DEFAULT
    settings = with_target_torch_version(rules, rule_settings(rules, options or {}), version)
    selection = RuleSelection(chosen, settings, python=target_version, known=frozenset(rule.code for rule in rules))
    return lint_text(path, textwrap.dedent(source), selection)


@dataclass
class LintResult:
    files: list[FileResult]

    @property
    def findings(self) -> list[LintFinding]:
        return [finding for result in self.files for finding in result.findings]


@dataclass
class PreparedRun:
    plan: LintPlan
    config: Config


def prepare(
    paths: Sequence[Path],
    *,
    config_path: Path | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    extend_select: Sequence[str] = (),
    fix: bool = False,
    unsafe_fixes: bool = False,
    cache_dir: Path | None = None,
    target_torch_version: str | None = None,
    target_version: PythonVersion | None = None,
) -> PreparedRun:
    """Resolve config and rule selection; raises ConfigError for anything invalid.

    With a ``cache_dir``, what is known of the rules comes from its manifest when current, so
    that nothing imports a rule (or libcst) until a file actually needs linting.
    ``target_torch_version`` (the CLI flag) overrides the config and the project's torch pin.
    """
    start = paths[0] if paths else Path.cwd()
    config = load_config(config_path if config_path is not None else find_config(start), start)
    if target_version is not None:
        config.target_version = target_version
    rule_dirs = (builtin_rules_dir(), *(d.resolve() for d in config.existing_rule_dirs()))
    try:
        rules = rule_infos(rule_dirs, cache_dir)
    except RuleLoadError as error:
        raise ConfigError(str(error)) from error
    sources = [SelectorSource(config.select, config.extend_select, config.ignore),
               SelectorSource(select, extend_select, ignore)]
    try:
        chosen = resolve(rules, sources)
        for selectors in config.per_file_ignores.values():
            select_rules(rules, selectors)
    except SelectionError as error:
        raise ConfigError(str(error)) from error
    plan = LintPlan(
        rule_dirs=rule_dirs,
        rules=tuple(chosen),
        settings=with_target_torch_version(
            rules, rule_settings(rules, config.rule_options),
            torch_target.resolve(target_torch_version, config.target_torch_version, start)),
        root=config.root,
        per_file_ignores=config.per_file_ignores,
        parse_errors_ignored=parse_error_ignored(effective_ignores(sources)),
        fix=fix,
        unsafe_fixes=unsafe_fixes,
        python=config.python,
    )
    return PreparedRun(plan, config)


def lint_paths(
    paths: Sequence[str | Path],
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    jobs: int | None = None,
    force_exclude: bool = False,
) -> LintResult:
    """Lint files and directories as ``dlsan check`` would (config discovered from the first path)."""
    path_list = [Path(p) for p in paths] or [Path(".")]
    run = prepare(path_list, select=select, ignore=ignore)
    files = collect_files(path_list, run.config.root, run.config.exclude, force_exclude=force_exclude)
    return LintResult(lint_files(run.plan, [str(f) for f in files], jobs))
