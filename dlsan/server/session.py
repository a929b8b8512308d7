"""What the language server asks of the linter, without any LSP: findings for a document's text,
its safe fixes applied, a notebook's cells linted as one module.

Configuration is the CLI's: the nearest ``pyproject.toml`` with ``[tool.dlsan]`` above the
document (so each workspace folder, or sub-project, gets its own), read once and reused until a
configuration file changes (:meth:`Session.forget_config`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from dlsan.config import find_config
from dlsan.lint.api import prepare
from dlsan.lint.finding import LintFinding
from dlsan.lint.runner import Linter


class Session:
    def __init__(self) -> None:
        self._config_of_dir: dict[Path, Path | None] = {}
        self._linters: dict[Path | None, tuple[Linter, Linter]] = {}

    def forget_config(self) -> None:
        """A configuration file changed: read them again on the next request."""
        self._config_of_dir.clear()
        self._linters.clear()

    def _linters_for(self, path: Path) -> tuple[Linter, Linter]:
        """(linter, fixing linter) under the configuration that applies to ``path``; raises
        ConfigError for a bad configuration."""
        directory = path.parent
        if directory not in self._config_of_dir:
            self._config_of_dir[directory] = find_config(path)
        config = self._config_of_dir[directory]
        if config not in self._linters:
            plan = prepare([path], config_path=config).plan
            self._linters[config] = (Linter(plan), Linter(replace(plan, fix=True, unsafe_fixes=False)))
        return self._linters[config]

    def lint(self, path: str, text: str) -> list[LintFinding]:
        """Findings for ``text`` as the content of ``path`` (per-file-ignores follow the path)."""
        linter, _ = self._linters_for(Path(path))
        return linter.lint_content(path, text.encode("utf-8")).findings

    def fix_all(self, path: str, text: str) -> str | None:
        """``text`` with every safe fix applied, or None when there is none to apply."""
        _, fixer = self._linters_for(Path(path))
        fixed = fixer.lint_content(path, text.encode("utf-8")).fixed
        return None if fixed is None or fixed == text else fixed

    def lint_cells(self, path: str, cells: Sequence[tuple[int, str]]) -> list[LintFinding]:
        """Findings for a notebook's code cells (position in the notebook, text), located by cell
        (``finding.cell - 1`` is that position)."""
        from dlsan.lint.notebook_lint import lint_cells

        linter, _ = self._linters_for(Path(path))
        return lint_cells(path, cells, linter.selection_for(Path(path)))
