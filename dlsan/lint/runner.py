"""Lint many files: per-file rule selection, worker processes, stable order.

A :class:`LintPlan` is everything a worker needs to lint a file, as plain picklable data (rule
directories and codes rather than classes, which workers load themselves), so it works with any
multiprocessing start method.
"""

from __future__ import annotations

import codecs
import gc
import json
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlsan.lint.cache import ResultCache, path_role, rules_fingerprint
from dlsan.lint.files import relative_posix
from dlsan.lint.finding import PARSE_ERROR_CODE, LintFinding
from dlsan.lint.manifest import RuleInfo
from dlsan.lint.notebooks import is_notebook
from dlsan.lint.pyversion import NEWEST, PythonVersion
from dlsan.lint.selection import matching

if TYPE_CHECKING:
    from dlsan.lint.engine import RuleSelection
    from dlsan.lint.reuse import DocumentReuse

#: below this many files, starting worker processes costs more than it saves
PARALLEL_THRESHOLD = 8


@dataclass(frozen=True)
class LintPlan:
    rule_dirs: tuple[Path, ...]
    rules: tuple[RuleInfo, ...]
    settings: dict[str, dict[str, Any]]
    root: Path
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    parse_errors_ignored: bool = False
    fix: bool = False
    unsafe_fixes: bool = False
    python: PythonVersion = NEWEST


@dataclass
class FileResult:
    path: str
    findings: list[LintFinding]
    original: str | None = None
    fixed: str | None = None
    applied: int = 0
    problem: str | None = None
    #: the findings before fixing, reported again when the fixed text cannot be written
    unfixed: list[LintFinding] = field(default_factory=list)
    #: project files (path -> content digest) whose code decided these findings
    dependencies: dict[str, str] = field(default_factory=dict)


class Linter:
    """Lints files for one plan.  Rule classes (and libcst with them) are imported only when a
    file is actually linted, so answering everything from the cache never imports them."""

    def __init__(self, plan: LintPlan) -> None:
        self.plan = plan
        self._codes_by_ignores: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._selections: dict[tuple[str, ...], RuleSelection] = {}

    def selected_codes(self, path: Path) -> tuple[str, ...]:
        """The plan's rules minus those ``per-file-ignores`` drops for ``path``."""
        ignored: list[str] = []
        relative = relative_posix(path, self.plan.root)
        for pattern, selectors in self.plan.per_file_ignores.items():
            if fnmatch(relative, pattern) or fnmatch(path.name, pattern):
                ignored.extend(selectors)
        key = tuple(sorted(ignored))
        codes = self._codes_by_ignores.get(key)
        if codes is None:
            dropped = {info for selector in ignored for info in matching(self.plan.rules, selector, strict=False)}
            codes = self._codes_by_ignores[key] = tuple(i.code for i in self.plan.rules if i not in dropped)
        return codes

    def selection_for(self, path: Path) -> RuleSelection:
        """The rule classes that run on ``path``, with their options."""
        from dlsan.lint.engine import RuleSelection
        from dlsan.lint.registry import load_rules

        codes = self.selected_codes(path)
        selection = self._selections.get(codes)
        if selection is None:
            by_code = {rule.code: rule for rule in load_rules(self.plan.rule_dirs)}
            selection = RuleSelection([by_code[code] for code in codes], self.plan.settings, self.plan.python,
                                      known=frozenset(by_code))
            self._selections[codes] = selection
        return selection

    def selection_key(self, path: Path) -> str:
        """Identifies the rules that run on ``path`` (part of its cache key)."""
        return ",".join(self.selected_codes(path))

    def lint(self, path_text: str) -> FileResult:
        path = Path(path_text)
        try:
            data = path.read_bytes()
        except OSError as error:
            return FileResult(path_text, [LintFinding(path_text, 1, 1, 1, 1, PARSE_ERROR_CODE, "parse-error",
                                                      f"Cannot read file: {error.strerror or error}")])
        return self.lint_content(path_text, data)

    def lint_content(self, path_text: str, data: bytes, reuse: DocumentReuse | None = None) -> FileResult:
        """Lint ``data`` as the content of ``path_text`` (which need not exist: stdin); ``reuse``
        is what the lints of earlier versions of that document kept, if any (not for notebooks)."""
        with fewer_collections():
            return self._lint_content(path_text, data, reuse)

    def _lint_content(self, path_text: str, data: bytes, reuse: DocumentReuse | None) -> FileResult:
        from dlsan.lint.engine import lint_bytes
        from dlsan.lint.fixes import fix_source
        from dlsan.lint.semantic.project import dependencies_of

        selection = self.selection_for(Path(path_text))
        if is_notebook(path_text):
            from dlsan.lint.notebook_lint import notebook_result

            result = notebook_result(path_text, data, selection, fix=self.plan.fix, unsafe=self.plan.unsafe_fixes)
        else:
            result = FileResult(path_text, lint_bytes(path_text, data, selection, reuse))
        result.dependencies = dependencies_of(path_text)
        if self.plan.fix and not is_notebook(path_text) and any(f.fix is not None for f in result.findings):
            original = data.decode("utf-8-sig")
            fixed = fix_source(path_text, original, selection, unsafe=self.plan.unsafe_fixes,
                               findings=result.findings)
            bom = "\ufeff" if data.startswith(codecs.BOM_UTF8) else ""
            result = FileResult(path_text, fixed.findings, bom + original,
                                bom + fixed.source if fixed.source != original else None,
                                fixed.applied, fixed.problem, unfixed=result.findings)
        return self.finished(result)

    def finished(self, result: FileResult) -> FileResult:
        """``result`` as the plan reports it (without DLS000 when parse errors are ignored)."""
        if self.plan.parse_errors_ignored:
            result.findings = [f for f in result.findings if f.code != PARSE_ERROR_CODE]
        return result


#: A file's lint builds hundreds of thousands of small container objects (its libcst tree, the
#: semantic model) that live until the file is done.  At CPython's default thresholds (700, 10, 10)
#: the cyclic collector runs hundreds of times per large file, and its full collections traverse
#: every tree kept alive (the project files' LRU): about a tenth of a cold run, measured on the
#: shared corpus (14.8 s of collections at the defaults, 6.6 s at these).  mypy raises its
#: thresholds for the same reason.  Garbage cycles are still collected, in fewer, larger passes.
_LINT_GC_THRESHOLDS = (100_000, 50, 100)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's thresholds for the duration of one file's lint (restored after, so
    that a program calling the API keeps its own settings)."""
    previous = gc.get_threshold()
    if previous[0] >= _LINT_GC_THRESHOLDS[0]:  # the program already collects this rarely
        yield
        return
    gc.set_threshold(*_LINT_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


_WORKER: Linter | None = None


def _init_worker(plan: LintPlan) -> None:
    global _WORKER
    _WORKER = Linter(plan)


def _lint_in_worker(path: str) -> FileResult:
    assert _WORKER is not None
    return _WORKER.lint(path)


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def lint_files(
    plan: LintPlan,
    paths: Sequence[str],
    jobs: int | None = None,
    cache: ResultCache | None = None,
) -> list[FileResult]:
    """Lint ``paths`` (results in that order) with ``jobs`` processes (default: all cores).

    With a ``cache``, files whose content and rules are unchanged are answered from it and only
    the others are linted; fixing never uses the cache.
    """
    if cache is None or plan.fix:
        return _lint_all(plan, paths, jobs)
    linter = Linter(plan)
    results: list[FileResult | None] = [None] * len(paths)
    keys: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            content = Path(path).read_bytes()
        except OSError:
            continue
        keys[i] = cache.file_key(content, linter.selection_key(Path(path)), path_role(path))
        hit = cache.get(keys[i], path)
        if hit is not None:
            results[i] = FileResult(path, hit)
    misses = [i for i, result in enumerate(results) if result is None]
    for i, result in zip(misses, _lint_all(plan, [paths[i] for i in misses], jobs)):
        results[i] = result
        if i in keys:
            cache.put(keys[i], result.findings, result.dependencies)
    cache.save()
    return [result for result in results if result is not None]


def lint_data(plan: LintPlan, path: str, data: bytes, cache: ResultCache | None = None) -> FileResult:
    """Lint ``data`` as if it were the file at ``path`` (standard input): per-file-ignores and the
    cache key follow ``path``, which need not exist."""
    linter = Linter(plan)
    if cache is None or plan.fix:
        return linter.lint_content(path, data)
    key = cache.file_key(data, linter.selection_key(Path(path)), path_role(path))
    hit = cache.get(key, path)
    if hit is not None:
        return FileResult(path, hit)
    result = linter.lint_content(path, data)
    cache.put(key, result.findings)
    cache.save()
    return result


def run_key(plan: LintPlan) -> str:
    """Everything besides a file's content and its rule selection that decides its findings."""
    return json.dumps([[info.code for info in plan.rules], plan.settings, plan.parse_errors_ignored,
                       plan.python, rules_fingerprint(plan.rule_dirs)], sort_keys=True, default=str)


def _lint_all(plan: LintPlan, paths: Sequence[str], jobs: int | None) -> list[FileResult]:
    jobs = default_jobs() if jobs is None else max(1, jobs)
    if jobs == 1 or len(paths) < PARALLEL_THRESHOLD:
        linter = Linter(plan)
        return [linter.lint(path) for path in paths]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    # Largest files first, one at a time: a file's cost grows with its size, and handing out the
    # big ones last (or several in one chunk: a project's big modules sit side by side) leaves one
    # worker finishing them while the other idles.  Per-file dispatch costs well under a
    # millisecond; results are put back in the order asked for.
    order = sorted(range(len(paths)), key=lambda i: _size(paths[i]), reverse=True)
    results: list[FileResult | None] = [None] * len(paths)
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(plan,)) as pool:
        for i, result in zip(order, pool.map(_lint_in_worker, [paths[i] for i in order])):
            results[i] = result
    return [result for result in results if result is not None]


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
