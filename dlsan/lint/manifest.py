"""What the CLI needs to know of the rules before linting anything, without importing them.

Rule modules import libcst, whose import costs more than a whole warm (fully cached) run
otherwise takes.  A :class:`RuleInfo` carries what selection, config validation and cache keys
read (code, name, default, options); the manifest stores them in the cache directory, keyed by the
rule files' fingerprint, so a warm run never imports libcst or a rule.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dlsan.lint.cache import prepare_cache_dir, rules_fingerprint


@dataclass(frozen=True)
class RuleInfo:
    code: str
    name: str
    default_enabled: bool
    options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _from_classes(rule_dirs: Sequence[Path]) -> list[RuleInfo]:
    from dlsan.lint.registry import load_rules

    return [RuleInfo(rule.code, rule.name, rule.default_enabled, dict(rule.options))
            for rule in load_rules(tuple(rule_dirs))]


def rule_infos(rule_dirs: Sequence[Path], cache_dir: Path | None) -> list[RuleInfo]:
    """The rules of ``rule_dirs``, read from the manifest in ``cache_dir`` when it is current.

    Without a cache directory, or when the manifest is missing, stale or unreadable, the rules
    are imported (raising RuleLoadError for a broken rule) and the manifest is rewritten.
    """
    if cache_dir is None:
        return _from_classes(rule_dirs)
    path = cache_dir / f"rules-{rules_fingerprint(rule_dirs)[:24]}.json"
    try:
        return [RuleInfo(**item) for item in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        pass
    infos = _from_classes(rule_dirs)
    try:
        prepare_cache_dir(cache_dir)
        with tempfile.NamedTemporaryFile("w", dir=cache_dir, prefix=".tmp-", suffix=".json", delete=False,
                                         encoding="utf-8") as handle:
            json.dump([asdict(info) for info in infos], handle)
        os.replace(handle.name, path)
    except OSError:
        pass
    return infos
