"""What the language server asks of the linter, without any LSP: findings for a document's text,
its safe fixes applied, a notebook's cells linted as one module.

Configuration is the CLI's: the nearest ``pyproject.toml`` with ``[tool.dlsan]`` above the
document (so each workspace folder, or sub-project, gets its own), read once and reused until a
configuration file changes (:meth:`Session.forget_config`).

A document linted again after an edit reuses what the last version's lint kept
(:class:`~dlsan.lint.reuse.DocumentReuse`): the statements the edit did not touch keep their nodes
and positions, and the top-level definitions among them their scopes.

With a :class:`~dlsan.server.helper.RuleHelper`, a Python document is linted by half of the rules
here and the other half in the helper process at the same time (see there).

A document linted again with the same text (saved after its last change, reopened) is answered
from the last lint of that path, unless the configuration or a project file its findings depend on
(an imported module of the project) changed since.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from dlsan.config import find_config
from dlsan.lint.api import prepare
from dlsan.lint.engine import RuleSelection, with_suppressions
from dlsan.lint.finding import LintFinding
from dlsan.lint.notebooks import is_notebook
from dlsan.lint.reuse import DocumentReuse
from dlsan.lint.runner import FileResult, Linter, fewer_collections
from dlsan.lint.semantic.project import dependencies_of, digest_of
from dlsan.server.helper import RuleHelper, lint_part


class Session:
    def __init__(self, helper: RuleHelper | None = None) -> None:
        #: lints half of the rules of each Python document in another process, when given
        self.helper = helper
        self._config_of_dir: dict[Path, Path | None] = {}
        self._linters: dict[Path | None, tuple[Linter, Linter]] = {}
        #: path -> (the linter, the text, its result) of the last lint of that path
        self._last: dict[str, tuple[Linter, str, FileResult]] = {}
        #: path -> what the lints of the versions of that document so far kept for the next
        self._reuse: dict[str, DocumentReuse] = {}

    def forget_config(self) -> None:
        """A configuration file changed: read them again on the next request."""
        self._config_of_dir.clear()
        self._linters.clear()
        self._last.clear()

    def forget_document(self, path: str) -> None:
        """The document at ``path`` was closed: drop what was kept of its last lint."""
        self._last.pop(path, None)
        self._reuse.pop(path, None)
        if self.helper is not None:
            self.helper.forget(path)

    def close(self) -> None:
        """End the helper process, if there is one."""
        if self.helper is not None:
            self.helper.close()

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
        last = self._last.get(path)
        if last is not None and last[0] is linter and last[1] == text and _dependencies_unchanged(last[2]):
            return list(last[2].findings)
        reuse = None if is_notebook(path) else self._reuse.setdefault(path, DocumentReuse())
        if reuse is not None and self.helper is not None and self.helper.worthwhile() and text.strip():
            result = self._lint_shared(linter, path, text, reuse, self.helper)
        else:
            result = linter.lint_content(path, text.encode("utf-8"), reuse)
        self._last[path] = (linter, text, result)
        return list(result.findings)

    def _lint_shared(self, linter: Linter, path: str, text: str, reuse: DocumentReuse,
                     helper: RuleHelper) -> FileResult:
        """``linter``'s findings for ``text``, half of its rules linting in ``helper`` meanwhile."""
        selection = linter.selection_for(Path(path))
        here, there = halves(selection)
        wall, processor = time.perf_counter(), time.process_time()
        sent = helper.submit(linter, path, text, there)
        with fewer_collections():
            outcome = lint_part(linter, path, text, here, reuse)
            dependencies = dependencies_of(path)
            processor = time.process_time() - processor
            answer = helper.result() if sent else None
            if answer is None:
                answer = lint_part(linter, path, text, there, reuse), dependencies_of(path), 0.0
            else:
                helper.observe(time.perf_counter() - wall, processor + answer[2])
            findings = with_suppressions(path, text, selection, outcome + answer[0], reuse)
        return linter.finished(FileResult(path, findings, dependencies={**dependencies, **answer[1]}))

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


def halves(selection: RuleSelection) -> tuple[list[str], list[str]]:
    """The codes of ``selection``'s rules in two halves of about equal cost: every other rule, in
    code order (neighbouring codes are related rules, which ask the same costly facts: each half
    gets some of every family)."""
    codes = sorted(rule.code for rule in selection.rules)
    return codes[0::2], codes[1::2]


def _dependencies_unchanged(result: FileResult) -> bool:
    return all(digest_of(dependency) == digest for dependency, digest in result.dependencies.items())
