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
(an imported module of the project) changed since.  So is, but for the suppression comments, a
document whose edit changed comments only (:func:`~dlsan.lint.reuse.comment_edits`), where no
finding touches the lines it changed: no rule reads comments (the per-file text gates only let
more work happen), and every node keeps its position.
"""

from __future__ import annotations

import functools
import sys
import time
import types
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dlsan.config import find_config
from dlsan.lint.analysis import loops
from dlsan.lint.api import prepare
from dlsan.lint.cell_output import percent_cells
from dlsan.lint.engine import RuleSelection, Unsuppressed, with_suppressions
from dlsan.lint.finding import LintFinding
from dlsan.lint.notebooks import is_notebook
from dlsan.lint.reuse import DocumentReuse, comment_edits
from dlsan.lint.runner import FileResult, Linter, fewer_collections
from dlsan.lint.semantic.project import dependencies_of, digest_of
from dlsan.server.helper import RuleHelper, lint_part


@dataclass(frozen=True)
class _LastLint:
    """The last lint of a path: by which linter, of which text, its result, and its findings
    before the suppression comments (None for a notebook)."""

    linter: Linter
    text: str
    result: FileResult
    outcome: Unsuppressed | None


class Session:
    def __init__(self, helper: RuleHelper | None = None) -> None:
        #: lints half of the rules of each Python document in another process, when given
        self.helper = helper
        self._config_of_dir: dict[Path, Path | None] = {}
        self._linters: dict[Path | None, tuple[Linter, Linter]] = {}
        #: path -> the last lint of that path
        self._last: dict[str, _LastLint] = {}
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
        if last is not None and (last.linter is not linter or not _dependencies_unchanged(last.result)):
            last = None
        if last is not None and last.text == text:
            return list(last.result.findings)
        if is_notebook(path):
            result = linter.lint_content(path, text.encode("utf-8"))
            self._last[path] = _LastLint(linter, text, result, None)
            return list(result.findings)
        reuse = self._reuse.setdefault(path, DocumentReuse())
        selection = linter.selection_for(Path(path))
        with fewer_collections():
            outcome = self._after_comment_edit(last, text, reuse) if last is not None else None
            dependencies = last.result.dependencies if last is not None and outcome is not None else {}
            if outcome is None:
                outcome, dependencies = self._unsuppressed(linter, selection, path, text, reuse)
            findings = with_suppressions(path, text, selection, outcome, reuse) if text.encode().strip() else []
        result = linter.finished(FileResult(path, findings, dependencies=dependencies))
        self._last[path] = _LastLint(linter, text, result, outcome)
        return list(result.findings)

    @staticmethod
    def _after_comment_edit(last: _LastLint, text: str, reuse: DocumentReuse) -> Unsuppressed | None:
        """The last lint's findings, before suppressions, when ``text`` changed only comments of
        the last text, on lines no finding touches; else None."""
        outcome = last.outcome
        if outcome is None or outcome.verdict is not None or not last.text.strip():
            return None
        if percent_cells(last.text) != percent_cells(text):  # ``# %%`` comments make cells
            return None
        old_comments = reuse.comments(last.text)  # the parser's chunks are still the last text's
        if reuse.parser.parse(text) is None:
            return None
        changed = comment_edits(last.text, old_comments, text, reuse.comments(text))
        if changed is None or any(_touches(finding, changed) for finding in (*outcome.findings, *outcome.errors)):
            return None
        return outcome

    def _unsuppressed(self, linter: Linter, selection: RuleSelection, path: str, text: str,
                      reuse: DocumentReuse) -> tuple[Unsuppressed, dict[str, str]]:
        """The findings for ``text`` before suppressions, and the project files they depend on:
        half of the rules linting in the helper meanwhile, when there is one worth asking."""
        helper = self.helper
        if helper is None or not helper.worthwhile():
            outcome = lint_part(linter, path, text, [rule.code for rule in selection.rules], reuse)
            return outcome, dependencies_of(path)
        here, there = halves(selection)
        wall, processor = time.perf_counter(), time.process_time()
        sent = helper.submit(linter, path, text, there)
        outcome = lint_part(linter, path, text, here, reuse)
        dependencies = dependencies_of(path)
        processor = time.process_time() - processor
        answer = helper.result() if sent else None
        if answer is None:
            answer = lint_part(linter, path, text, there, reuse), dependencies_of(path), 0.0
        else:
            helper.observe(time.perf_counter() - wall, processor + answer[2])
        return outcome + answer[0], {**dependencies, **answer[1]}

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
    """The codes of ``selection``'s rules in two halves, each half linted by its own process.

    Most of a lint's cost is facts that rules share, and each process computes those its rules ask
    for: so the rules that follow training loops (they depend on
    :mod:`~dlsan.lint.analysis.loops`: loop events, optimizer steps, train/eval modes, the costliest
    facts) make one half, and the others (activations, shapes, leakage, single calls) the other.
    On the latency benchmark's document the server answers an edit in 164 / 146 ms (code / inserted
    line) so, against 188 / 167 ms with every other rule in code order, which splits each family
    between the two processes (``benchmarks/server_latency.py``, run side by side).  Where that
    grouping leaves a half with less than a quarter of the rules (a narrow selection; 10 of the 32
    built-in rules follow loops), every other rule is taken instead."""
    codes = sorted(rule.code for rule in selection.rules)
    looping = {rule.code for rule in selection.rules if _LOOPS in _dlsan_modules_used(rule.__module__)}
    if min(len(looping), len(codes) - len(looping)) * 4 < len(codes):
        return codes[0::2], codes[1::2]
    return [code for code in codes if code not in looping], [code for code in codes if code in looping]


_LOOPS = loops.__name__


@functools.cache
def _dlsan_modules_used(module_name: str) -> frozenset[str]:
    """The dlsan modules that ``module_name`` uses, directly or through others: those its globals
    are, or whose functions and classes they are."""
    found: set[str] = set()
    pending = [module_name]
    while pending:
        module = sys.modules.get(pending.pop())
        if module is None:
            continue
        for value in vars(module).values():
            used = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
            if isinstance(used, str) and used.startswith("dlsan.") and used not in found:
                found.add(used)
                pending.append(used)
    return frozenset(found)


def _touches(finding: LintFinding, changed: Collection[int]) -> bool:
    """Whether ``finding`` may read differently after comments changed on the ``changed`` lines:
    it lies on one, one of its fix's edits does, or it quotes code over several lines or with a
    comment (which could be the changed comments)."""
    spans = [(finding.line, finding.end_line)]
    texts = [finding.message]
    if finding.fix is not None:
        spans.extend((edit.line, edit.end_line) for edit in finding.fix.edits)
        texts.extend(edit.content for edit in finding.fix.edits)
    return (any(first <= line <= last for first, last in spans for line in changed)
            or any("\n" in text or "#" in text for text in texts))


def _dependencies_unchanged(result: FileResult) -> bool:
    return all(digest_of(dependency) == digest for dependency, digest in result.dependencies.items())
