"""``--select`` / ``--ignore``: by code prefix (``DLS1`` = every DLS1xx), by name, or ``ALL``.

Selection is resolved as Ruff does, source by source (the config file, then the command line):
a source that sets ``select`` starts over from it, dropping the ``select``, ``extend-select`` and
``ignore`` of the sources before it; then its ``extend-select`` adds and its ``ignore`` removes.
Within one source the most specific selector wins (a name or full code over a prefix, a longer
prefix over a shorter one, any prefix over ``ALL``); on a tie ``ignore`` wins.  So
``--select DLS101`` on the command line runs DLS101 even when the config ignores it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from dlsan.lint.finding import PARSE_ERROR_CODE, PARSE_ERROR_NAME


class Selectable(Protocol):
    """What selection reads of a rule: a rule class, or its :class:`~dlsan.lint.manifest.RuleInfo`."""

    code: str
    name: str
    default_enabled: bool


R = TypeVar("R", bound=Selectable)


class SelectionError(ValueError):
    """A selector that names no rule."""


def matching(rules: Sequence[R], selector: str, *, strict: bool = True) -> list[R]:
    """The rules ``selector`` names; with ``strict``, a selector naming none is an error."""
    token = selector.strip()
    if token.upper() == "ALL":
        return list(rules)
    upper = token.upper()
    found = [rule for rule in rules if rule.code.startswith(upper) or rule.name == token.lower()]
    if strict and not found and upper not in (PARSE_ERROR_CODE, PARSE_ERROR_NAME.upper()):
        raise SelectionError(f"{selector!r} matches no rule code, prefix or name")
    return found


@dataclass(frozen=True)
class SelectorSource:
    """The selectors of one source of configuration (the config file, or the command line)."""

    select: Sequence[str] | None = None
    extend_select: Sequence[str] = field(default_factory=tuple)
    ignore: Sequence[str] = field(default_factory=tuple)


def _specificity(rule: Selectable, selector: str) -> int:
    token = selector.strip()
    if token.upper() == "ALL":
        return 0
    if token.lower() == rule.name or token.upper() == rule.code:
        return 1000
    return len(token)


def _best(rule: R, selectors: Iterable[str], rules: Sequence[R]) -> int:
    """How specifically ``selectors`` name ``rule`` (-1: not at all)."""
    return max((_specificity(rule, s) for s in selectors if rule in matching(rules, s)), default=-1)


def resolve(rules: Sequence[R], sources: Sequence[SelectorSource]) -> list[R]:
    """The rules the sources select, in code order (see the module docstring)."""
    chosen = {rule for rule in rules if rule.default_enabled}
    for source in sources:
        adding = [*(source.select or ()), *source.extend_select]
        for selector in [*adding, *source.ignore]:
            matching(rules, selector)  # every selector must name a rule
        if source.select is not None:
            chosen = set()
        for rule in rules:
            added, ignored = _best(rule, adding, rules), _best(rule, source.ignore, rules)
            if added > ignored:
                chosen.add(rule)
            elif ignored >= 0:
                chosen.discard(rule)
    return sorted(chosen, key=lambda rule: rule.code)


def select_rules(
    rules: Sequence[R],
    select: Iterable[str] | None,
    ignore: Iterable[str] = (),
    extend_select: Iterable[str] = (),
) -> list[R]:
    """The rules chosen by one source's selectors; ``select=None`` means the default-enabled rules."""
    return resolve(rules, [SelectorSource(None if select is None else list(select), list(extend_select),
                                          list(ignore))])


def effective_ignores(sources: Sequence[SelectorSource]) -> list[str]:
    """The ignore selectors still in force: those of the last source that sets ``select`` and after."""
    start = max((i for i, source in enumerate(sources) if source.select is not None), default=0)
    return [selector for source in sources[start:] for selector in source.ignore]


def parse_error_ignored(ignore: Iterable[str]) -> bool:
    """DLS000 is always on unless a selector names it (or ALL) in ignore."""
    tokens = {token.strip().upper() for token in ignore}
    return bool(tokens & {"ALL", PARSE_ERROR_CODE, PARSE_ERROR_NAME.upper(), "DLS", "DLS0", "DLS00"})


def split_selectors(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]
