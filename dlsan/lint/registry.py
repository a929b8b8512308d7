"""Rule discovery: every ``Rule`` subclass defined in a ``*.py`` file of a rule directory.

Built-in rules live in the repository's top-level ``rules/`` directory.  A wheel ships them as
``dlsan/_builtin_rules`` (see pyproject.toml), so nothing generic like ``rules`` is ever installed
at the top level; an editable install or a source checkout reads ``rules/`` in place.  Project-local
rule directories named in config are loaded exactly the same way.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from dlsan.lint.finding import PARSE_ERROR_CODE

if TYPE_CHECKING:  # importing rule classes imports libcst: done only when rules are loaded
    from dlsan.lint.rule import Rule


class RuleLoadError(Exception):
    """A rule directory or file that cannot be loaded, or a clash of codes/names."""


def builtin_rules_dir() -> Path:
    package_dir = Path(__file__).resolve().parent.parent
    shipped = package_dir / "_builtin_rules"
    if shipped.is_dir():
        return shipped
    return package_dir.parent / "rules"


def _module_name(directory: Path, stem: str) -> str:
    digest = hashlib.sha1(str(directory).encode()).hexdigest()[:10]
    return f"dlsan._loaded_rules.d{digest}.{stem}"


def _load_file(directory: Path, path: Path) -> list[type[Rule]]:
    from dlsan.lint.rule import Rule

    name = _module_name(directory, path.stem)
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise RuleLoadError(f"cannot load rule file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[name]
            raise RuleLoadError(f"rule file {path} failed to import: {type(error).__name__}: {error}") from error
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Rule) and value is not Rule
        and value.__module__ == name
    ]


BUILTIN_PREFIX = "DLS"
_BUILTIN_CODE = re.compile(r"^DLS\d{3}$")


@lru_cache(maxsize=8)
def load_rules(directories: tuple[Path, ...]) -> tuple[type[Rule], ...]:
    """Every rule in ``directories``, sorted by code; raises RuleLoadError on any clash.

    Built-in rules are ``DLSnnn``; a project's rules use a prefix of their own (``ACME101``), so
    that a future built-in rule can never take their code."""
    found: list[type[Rule]] = []
    builtin = builtin_rules_dir()
    for directory in directories:
        if not directory.is_dir():
            raise RuleLoadError(f"rule directory {directory} does not exist")
        for path in sorted(directory.glob("*.py")):
            if not path.name.startswith("_"):
                rules = _load_file(directory.resolve(), path)
                _check_prefix(rules, path, directory.resolve() == builtin.resolve())
                found.extend(rules)
    _check_unique(found)
    return tuple(sorted(found, key=lambda rule: rule.code))


def _check_prefix(rules: Sequence[type[Rule]], path: Path, builtin: bool) -> None:
    for rule in rules:
        code = getattr(rule, "code", "")
        if builtin and not _BUILTIN_CODE.match(code):
            raise RuleLoadError(f"built-in rule {rule.__qualname__} ({path}): code {code!r} is not DLSnnn")
        if not builtin and code.startswith(BUILTIN_PREFIX):
            raise RuleLoadError(f"project rule {rule.__qualname__} ({path}): code {code!r} uses the prefix "
                                f"{BUILTIN_PREFIX!r}, reserved for dlsan's own rules; give your rules a "
                                "prefix of your own (letters then digits, e.g. ACME101)")


def _check_unique(rules: Sequence[type[Rule]]) -> None:
    seen: dict[str, type[Rule]] = {}
    for rule in rules:
        problems = rule.problems()
        if problems:
            raise RuleLoadError(f"rule {rule.__qualname__}: " + "; ".join(problems))
        for key in (rule.code, rule.name):
            if key == PARSE_ERROR_CODE or key in seen:
                raise RuleLoadError(f"rule {rule.__qualname__} reuses {key!r}")
            seen[key] = rule


def all_rules(extra_directories: Iterable[Path] = ()) -> tuple[type[Rule], ...]:
    return load_rules((builtin_rules_dir(), *(Path(d).resolve() for d in extra_directories)))
