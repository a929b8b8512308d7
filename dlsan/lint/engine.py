"""Lint one file: decode, prefilter, one parse, one walk for every rule, suppressions, fixes.

Never raises on input: undecodable, empty or unparsable files give a ``DLS000`` finding, and a
rule that crashes is reported as a ``DLS000`` internal error while the other rules' findings stand.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from dlsan.lint.context import FileContext
from dlsan.lint.finding import PARSE_ERROR_CODE, PARSE_ERROR_NAME, Edit, Fix, LintFinding
from dlsan.lint.rule import FixSpec, InsertAfter, InsertBefore, Replace, Report, Rule
from dlsan.lint.suppressions import is_suppressed
from dlsan.lint.text import split_lines
from dlsan.lint.walk import Dispatcher, walk


@dataclass(frozen=True)
class RuleSelection:
    """The rules to run on one file, with their options."""

    rules: Sequence[type[Rule]]
    settings: dict[str, dict[str, Any]]

    def prefilter_tokens(self) -> tuple[str, ...]:
        return tuple({token for rule in self.rules for token in rule.requires})


class _ImportTracker:
    """Feeds imports met inside functions to the resolver (top-level ones are pre-read)."""

    def __init__(self, context: FileContext) -> None:
        self._names = context.names

    def visit_Import(self, node: cst.Import) -> None:
        self._names.add_import(node)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self._names.add_import(node)


def decode_source(data: bytes) -> str:
    """Decode Python source as the interpreter would (UTF-8, BOM allowed); raises on failure."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    return data.decode("utf-8")


def _file_finding(path: str, message: str, line: int = 1, column: int = 1) -> LintFinding:
    return LintFinding(
        path=path, line=line, column=column, end_line=line, end_column=column,
        code=PARSE_ERROR_CODE, name=PARSE_ERROR_NAME, message=message,
    )


def lint_bytes(path: str, data: bytes, selection: RuleSelection) -> list[LintFinding]:
    """All findings for one file's raw content."""
    if not data.strip():
        if PurePath(path).name == "__init__.py":
            return []
        return [_file_finding(path, "File is empty: nothing to check (delete it or add code).")]
    try:
        source = decode_source(data)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return [_file_finding(path, f"File is not valid UTF-8 ({error.reason} at byte {error.start}); "
                                    "dlsan reads Python source as UTF-8.", line=line)]
    return lint_source(path, source, selection)


#: libcst's native parser recurses once per level of its tree, and a flat construct of CPython's
#: (``a or b or ...``, ``import a.b.c...``) is a deep chain in libcst's: a few thousand levels
#: overflow a default 8 MiB stack and kill the process.  Parsing on a thread whose stack grows
#: with the input (about 1.4 KiB of stack per byte of source in the worst case measured) turns
#: that into, at worst, a RecursionError.  The stack is virtual memory, committed only as used.
_STACK_PER_SOURCE_BYTE = 2048
_MIN_PARSE_STACK = 16 << 20
_MAX_PARSE_STACK = 1 << 30


def parse_module(source: str) -> cst.Module:
    """``cst.parse_module`` on a thread with a stack deep enough for ``source``; raises what it raises."""
    outcome: list[cst.Module | BaseException] = []

    def parse() -> None:
        try:
            outcome.append(cst.parse_module(source))
        except BaseException as error:  # handed to the calling thread
            outcome.append(error)

    size = min(max(_STACK_PER_SOURCE_BYTE * len(source), _MIN_PARSE_STACK), _MAX_PARSE_STACK)
    thread = threading.Thread(target=parse, name="dlsan-parse")
    try:
        previous = threading.stack_size(size)
    except (ValueError, RuntimeError):  # a platform without settable stacks: parse in place
        return cst.parse_module(source)
    try:
        thread.start()
    except RuntimeError:  # the system refused a stack that large: parse in place
        return cst.parse_module(source)
    finally:
        threading.stack_size(previous)
    thread.join()
    (result,) = outcome
    if isinstance(result, BaseException):
        raise result
    return result


def syntax_error(path: str, source: str) -> LintFinding | None:
    try:
        compile(source, path, "exec", flags=0x400, dont_inherit=True)  # PyCF_ONLY_AST
    except SyntaxError as error:
        return _file_finding(path, f"SyntaxError: {error.msg}", line=error.lineno or 1,
                             column=error.offset or 1)
    except (ValueError, RecursionError, MemoryError) as error:
        return _file_finding(path, f"Cannot parse: {type(error).__name__}: {error}")
    return None


def checked_parse(path: str, source: str) -> cst.Module | LintFinding:
    """The libcst module of ``source``, or the DLS000 finding that says why there is none."""
    try:
        return parse_module(source)
    except cst.ParserSyntaxError as error:
        return _file_finding(path, f"Cannot parse: {error.message}", line=error.raw_line,
                             column=error.raw_column + 1)
    except (RecursionError, MemoryError, ValueError) as error:
        return _file_finding(path, f"Cannot parse: {type(error).__name__}")


def lint_source(path: str, source: str, selection: RuleSelection) -> list[LintFinding]:
    """All findings for one file's decoded text."""
    # CPython's parser is several times faster than libcst's and guards it against input that
    # would exhaust its stack (deep nesting): every file gets this check, prefiltered or not.
    broken = syntax_error(path, source)
    if broken is not None:
        return [broken]
    if not any(token in source for token in selection.prefilter_tokens()):
        return []
    module = checked_parse(path, source)
    if isinstance(module, LintFinding):
        return [module]
    return lint_module(path, source, module, selection)


def _instantiate(context: FileContext, selection: RuleSelection) -> list[Rule]:
    return [rule(context, selection.settings.get(rule.code)) for rule in selection.rules]


def lint_module(path: str, source: str, module: cst.Module, selection: RuleSelection) -> list[LintFinding]:
    """All findings for an already parsed file (``module`` must be ``source`` parsed)."""
    context = FileContext(path, source, module)
    rules = _instantiate(context, selection)
    internal_errors: list[LintFinding] = []
    try:
        walk(module, Dispatcher([_ImportTracker(context), *rules]), context.ancestors)
    except Exception:
        rules, internal_errors = _isolate_crashing_rules(path, source, module, selection)
    reported = [(rule, report) for rule in rules for report in rule.reports]
    if not reported:
        return internal_errors
    try:
        positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    except Exception as error:  # libcst computes positions recursively, frames per tree level
        if not _caused_by_recursion(error):
            raise
        return [_file_finding(path, "Cannot locate findings: the code is nested too deeply "
                                    "(RecursionError in libcst's position computation).")]
    lines = split_lines(source)
    findings: list[LintFinding] = []
    for rule, report in reported:
        finding = _to_finding(path, rule, report, positions)
        text = lines[finding.line - 1] if finding.line <= len(lines) else ""
        if not is_suppressed(text, finding.code, finding.name):
            findings.append(finding)
    return sorted(set(findings)) + internal_errors


def _caused_by_recursion(error: BaseException | None) -> bool:
    """A RecursionError, or an error raised while one unwound (libcst's position recorder turns
    it into a KeyError on its way out)."""
    while error is not None:
        if isinstance(error, RecursionError):
            return True
        error = error.__context__
    return False


def _isolate_crashing_rules(
    path: str, source: str, module: cst.Module, selection: RuleSelection
) -> tuple[list[Rule], list[LintFinding]]:
    """Re-walk rule by rule after a crash, keeping every rule that works."""
    healthy: list[Rule] = []
    errors: list[LintFinding] = []
    for rule_class in selection.rules:
        context = FileContext(path, source, module)
        rule = rule_class(context, selection.settings.get(rule_class.code))
        try:
            walk(module, Dispatcher([_ImportTracker(context), rule]), context.ancestors)
        except Exception as error:  # a rule bug must not cost the user the other rules
            errors.append(_file_finding(
                path, f"Internal error in {rule_class.code} ({rule_class.name}): "
                      f"{type(error).__name__}: {error}. Please report it; other rules ran."))
        else:
            healthy.append(rule)
    return healthy, errors


def _to_finding(path: str, rule: Rule, report: Report, positions: Any) -> LintFinding:
    where: CodeRange = positions[report.node]
    return LintFinding(
        path=path,
        line=where.start.line,
        column=where.start.column + 1,
        end_line=where.end.line,
        end_column=where.end.column + 1,
        code=rule.code,
        name=rule.name,
        message=report.message,
        fix=_to_fix(rule, report.fix, positions) if report.fix is not None else None,
    )


def _to_fix(rule: Rule, spec: FixSpec, positions: Any) -> Fix:
    edits: list[Edit] = []
    for item in spec.edits:
        where: CodeRange = positions[item.node]
        start = (where.start.line, where.start.column + 1)
        end = (where.end.line, where.end.column + 1)
        if isinstance(item, Replace):
            edits.append(Edit(*start, *end, item.text))
        elif isinstance(item, InsertBefore):
            edits.append(Edit(*start, *start, item.text))
        elif isinstance(item, InsertAfter):
            edits.append(Edit(*end, *end, item.text))
    return Fix(
        message=spec.message,
        applicability=spec.applicability or rule.fix_applicability,
        edits=tuple(sorted(edits, key=lambda e: (e.line, e.column))),
    )
