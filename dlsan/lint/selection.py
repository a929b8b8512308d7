"""``--select`` / ``--ignore``: by code prefix (``DLS1`` = every DLS1xx), by name, or ``ALL``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def select_rules(
    rules: Sequence[R],
    select: Iterable[str] | None,
    ignore: Iterable[str] = (),
    extend_select: Iterable[str] = (),
) -> list[R]:
    """The rules chosen by the selectors; ``select=None`` means the default-enabled rules."""
    if select is None:
        chosen = [rule for rule in rules if rule.default_enabled]
    else:
        chosen = [rule for selector in select for rule in matching(rules, selector)]
    chosen += [rule for selector in extend_select for rule in matching(rules, selector)]
    ignored = {rule for selector in ignore for rule in matching(rules, selector)}
    unique = dict.fromkeys(rule for rule in chosen if rule not in ignored)
    return sorted(unique, key=lambda rule: rule.code)


def parse_error_ignored(ignore: Iterable[str]) -> bool:
    """DLS000 is always on unless a selector names it (or ALL) in ignore."""
    tokens = {token.strip().upper() for token in ignore}
    return bool(tokens & {"ALL", PARSE_ERROR_CODE, PARSE_ERROR_NAME.upper(), "DLS", "DLS0", "DLS00"})


def split_selectors(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]
