"""Lint one file: decode, prefilter, one parse, one walk for every rule, suppressions, fixes.

Never raises on input: undecodable or unparsable files give a ``DLS000`` finding, and a rule that
crashes is reported as a ``DLS000`` internal error while the other rules' findings stand.  An empty
file is valid Python with nothing to check.  Whether a file parses is libcst's verdict at the
selection's target version (:mod:`dlsan.lint.syntax`), never the running interpreter's.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import libcst as cst

from dlsan.lint import suppressions
from dlsan.lint.cell_output import CellSpan, without_displayed_outputs
from dlsan.lint.context import CellOf, FileContext
from dlsan.lint.finding import PARSE_ERROR_CODE, PARSE_ERROR_NAME, Edit, Fix, LintFinding
from dlsan.lint.positions import Positions, positions_of
from dlsan.lint.pyversion import NEWEST, PythonVersion
from dlsan.lint.rule import FixSpec, InsertAfter, InsertBefore, Replace, Report, Rule
from dlsan.lint.syntax import NewerSyntax, checks_needed
from dlsan.lint.walk import Dispatcher, walk, walk_listed

if TYPE_CHECKING:
    from dlsan.lint.reuse import DocumentReuse

T = TypeVar("T")


@dataclass(frozen=True)
class RuleSelection:
    """The rules to run on one file, with their options."""

    rules: Sequence[type[Rule]]
    settings: dict[str, dict[str, Any]]
    #: the Python version the code is written for: newer syntax is a DLS000
    python: PythonVersion = NEWEST
    #: the codes of every rule dlsan knows, selected or not (DLS001 calls other codes unknown)
    known: frozenset[str] = frozenset()

    def audits_suppressions(self) -> bool:
        return any(rule.code == suppressions.UNUSED_SUPPRESSION_CODE for rule in self.rules)

    def prefilter_tokens(self) -> tuple[str, ...]:
        return tuple({token for rule in self.rules for token in rule.requires})


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


def lint_bytes(path: str, data: bytes, selection: RuleSelection,
               reuse: DocumentReuse | None = None) -> list[LintFinding]:
    """All findings for one file's raw content (``reuse``: see :func:`lint_source`)."""
    if not data.strip():
        return []
    try:
        source = decode_source(data)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return [_file_finding(path, f"File is not valid UTF-8 ({error.reason} at byte {error.start}); "
                                    "dlsan reads Python source as UTF-8.", line=line)]
    return lint_source(path, source, selection, reuse=reuse)


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
    return on_parse_stack(lambda: cst.parse_module(source), len(source))


def on_parse_stack(parse: Callable[[], T], source_length: int) -> T:
    """``parse()`` on a thread with a stack deep enough to parse ``source_length`` characters of
    source with libcst; raises what it raises."""
    outcome: list[T | BaseException] = []

    def run() -> None:
        try:
            outcome.append(parse())
        except BaseException as error:  # handed to the calling thread
            outcome.append(error)

    size = min(max(_STACK_PER_SOURCE_BYTE * source_length, _MIN_PARSE_STACK), _MAX_PARSE_STACK)
    thread = threading.Thread(target=run, name="dlsan-parse")
    try:
        previous = threading.stack_size(size)
    except (ValueError, RuntimeError):  # a platform without settable stacks: parse in place
        return parse()
    try:
        thread.start()
    except RuntimeError:  # the system refused a stack that large: parse in place
        return parse()
    finally:
        threading.stack_size(previous)
    thread.join()
    (result,) = outcome
    if isinstance(result, BaseException):
        raise result
    return result


class _CPythonReading:
    """What this interpreter's own parser says of ``source``; cheap (several times faster than
    libcst's) and used for two things only, never for the verdict on syntax, which is libcst's:

    * a guard: input nested so deeply that CPython gives up (RecursionError, "too complex") would
      make rules recurse for minutes, so it is a DLS000 before libcst or a rule sees it;
    * wording: when libcst rejects a file that CPython rejects too, CPython's message and position
      point at the offending token, libcst's at where its parser stopped.
    """

    def __init__(self, path: str, source: str) -> None:
        self.syntax_error: SyntaxError | None = None
        self.too_deep = False
        try:
            compile(source, path, "exec", flags=_ONLY_AST, dont_inherit=True)
        except SyntaxError as error:
            self.syntax_error = error
        except (RecursionError, MemoryError):
            self.too_deep = True
        except ValueError:  # NUL bytes: libcst decides
            pass

    @property
    def compiles(self) -> bool:
        return self.syntax_error is None and not self.too_deep


_ONLY_AST = 0x400


def too_deep(source: str) -> bool:
    """Whether ``source`` is nested too deeply to be linted (checked before libcst parses it)."""
    return _CPythonReading("<chunk>", source).too_deep


def cpython_compiles(source: str) -> bool:
    """Whether this interpreter's parser accepts ``source`` (a guard on what a fix writes)."""
    return _CPythonReading("<fix>", source).compiles


def checked_parse(path: str, source: str, cpython: _CPythonReading | None = None) -> cst.Module | LintFinding:
    """The libcst module of ``source``, or the DLS000 finding that says why there is none."""
    cpython = cpython or _CPythonReading(path, source)
    if cpython.too_deep:
        return _file_finding(path, "Cannot parse: the code is nested too deeply.")
    try:
        return parse_module(source)
    except cst.ParserSyntaxError as error:
        if cpython.syntax_error is not None:
            described = cpython.syntax_error
            return _file_finding(path, f"SyntaxError: {described.msg}", line=described.lineno or 1,
                                 column=described.offset or 1)
        return _file_finding(path, f"Cannot parse: {error.message}", line=error.raw_line,
                             column=error.raw_column + 1)
    except (RecursionError, MemoryError, ValueError) as error:
        return _file_finding(path, f"Cannot parse: {type(error).__name__}")


def lint_source(path: str, source: str, selection: RuleSelection,
                cells: Sequence[CellSpan] | None = None, reuse: DocumentReuse | None = None,
                cell_of: CellOf | None = None) -> list[LintFinding]:
    """All findings for one file's decoded text; ``cells``: the notebook cells it is made of
    (found from ``# %%`` markers when not given), and ``cell_of``, for a notebook's virtual module,
    where each of its lines is shown (for the lines messages name).  With ``reuse`` (what the lints
    of earlier versions of this document kept), what did not change since is not parsed again, nor
    are its scopes built again; the findings are the same."""
    outcome = unsuppressed(path, source, selection, cells, reuse, cell_of)
    return with_suppressions(path, source, selection, outcome, reuse)


def unsuppressed(path: str, source: str, selection: RuleSelection, cells: Sequence[CellSpan] | None = None,
                 reuse: DocumentReuse | None = None, cell_of: CellOf | None = None) -> Unsuppressed:
    """What :func:`lint_source` finds before it applies the suppression comments (arguments as
    for it)."""
    parsed = reuse.parser.parse(source) if reuse is not None else None
    positions: Positions | None = None
    if parsed is not None:
        module, positions = parsed.module, parsed.positions
    else:
        checked = checked_parse(path, source)
        if isinstance(checked, LintFinding):
            return Unsuppressed(verdict=(checked,))
        module = checked
    if not _may_match(source, selection):
        # no rule can match: only the target version is left to check
        if not checks_needed(selection.python):
            return Unsuppressed(ran=_ids(selection.rules))
        newer = NewerSyntax(selection.python)
        walk(module, Dispatcher([newer]), [])
        if newer.found is None:
            return Unsuppressed(ran=_ids(selection.rules))
        return Unsuppressed(verdict=(_newer_syntax_finding(path, positions or positions_of(module), newer),))
    context = FileContext(path, source, module, positions, reuse, cell_of)
    try:
        return _lint_in_context(context, selection, cells, reuse)
    finally:
        context.release()


@dataclass(frozen=True)
class Unsuppressed:
    """A lint's findings before the suppression comments are applied.  Two lints of one text by
    different rules add up (``+``) to the lint by all of them: the language server lints with half
    of the rules in a second process, and applies the comments once to the sum, so that DLS001 sees
    the findings of every rule."""

    findings: tuple[LintFinding, ...] = ()
    #: DLS000 for each rule that crashed: reported whatever the comments say
    errors: tuple[LintFinding, ...] = ()
    #: the rules that ran to the end (a crashed rule's suppressions are never "unused")
    ran: tuple[suppressions.RuleId, ...] = ()
    #: the DLS000 that stands for the whole file (it does not parse, uses newer syntax than the
    #: target version, or is nested too deeply to locate findings): the only finding then
    verdict: tuple[LintFinding, ...] | None = None

    def __add__(self, other: Unsuppressed) -> Unsuppressed:
        if self.verdict is not None or other.verdict is not None:
            return self if self.verdict is not None else other
        return Unsuppressed(self.findings + other.findings, self.errors + other.errors, self.ran + other.ran)


def with_suppressions(path: str, source: str, selection: RuleSelection, outcome: Unsuppressed,
                      reuse: DocumentReuse | None = None) -> list[LintFinding]:
    """The findings of ``outcome``, a lint of ``source`` by the rules of ``selection`` (or the sum
    of lints by parts of them), with the suppression comments applied (and DLS001 reported)."""
    if outcome.verdict is not None:
        return list(outcome.verdict)
    audit = selection.audits_suppressions() and _may_match(source, selection)
    if not outcome.findings and not audit:
        return list(outcome.errors)
    kept = suppressions.apply(path, source, outcome.findings, ran=outcome.ran, known=selection.known, audit=audit,
                              comments_of=reuse.comments if reuse is not None else None)
    return sorted(set(kept)) + list(outcome.errors)


def _may_match(source: str, selection: RuleSelection) -> bool:
    """Whether a rule of ``selection`` may match in ``source`` at all (a prefilter on its text)."""
    return any(token in source for token in selection.prefilter_tokens())


def _ids(rules: Sequence[type[Rule]] | Sequence[Rule]) -> tuple[suppressions.RuleId, ...]:
    return tuple(suppressions.RuleId(rule.code, rule.name) for rule in rules)


def _newer_syntax_finding(path: str, positions: Positions, newer: NewerSyntax) -> LintFinding:
    assert newer.found is not None
    where = positions[newer.found[0]]
    return _file_finding(path, newer.message(), line=where.start.line, column=where.start.column + 1)


def _instantiate(context: FileContext, selection: RuleSelection) -> list[Rule]:
    return [rule(context, selection.settings.get(rule.code)) for rule in selection.rules]


def lint_module(path: str, source: str, module: cst.Module, selection: RuleSelection,
                cells: Sequence[CellSpan] | None = None, cell_of: CellOf | None = None) -> list[LintFinding]:
    """All findings for an already parsed file (``module`` must be ``source`` parsed); ``cells``
    and ``cell_of`` as for :func:`lint_source`."""
    context = FileContext(path, source, module, cell_of=cell_of)
    try:
        outcome = _lint_in_context(context, selection, cells, None)
    finally:
        context.release()
    return with_suppressions(path, source, selection, outcome)


def _lint_in_context(context: FileContext, selection: RuleSelection, cells: Sequence[CellSpan] | None,
                     reuse: DocumentReuse | None) -> Unsuppressed:
    path, source, module = context.path, context.source, context.module
    rules = _instantiate(context, selection)
    newer = NewerSyntax(selection.python)
    helpers = [newer] if checks_needed(selection.python) else []
    internal_errors: list[LintFinding] = []
    try:
        dispatcher = Dispatcher([*helpers, *rules])
        if reuse is not None:  # the tree is listed from the last version's lists: walk the list
            walk_listed(context.preorder, dispatcher, context.ancestors)
        else:
            walk(module, dispatcher, context.ancestors)
    except Exception:
        if newer.found is None:
            rules, internal_errors = _isolate_crashing_rules(path, source, module, selection)
    if newer.found is not None:
        return Unsuppressed(verdict=(_newer_syntax_finding(path, context.positions, newer),))
    reported = [(rule, report) for rule in rules for report in rule.reports]
    findings: list[LintFinding] = []
    if reported:
        try:
            positions = context.positions
        except Exception as error:  # libcst computes positions recursively, frames per tree level
            if not _caused_by_recursion(error):
                raise
            return Unsuppressed(verdict=(_file_finding(path, "Cannot locate findings: the code is nested too deeply "
                                                             "(RecursionError in libcst's position computation)."),))
        findings = [_to_finding(path, rule, report, positions) for rule, report in reported]
        findings = without_displayed_outputs(findings, source, {rule.code for rule in rules if rule.output_is_a_use},
                                             cells)
    # a rule that crashed reported nothing: its suppressions are not "unused"
    return Unsuppressed(tuple(findings), tuple(internal_errors), _ids(rules))


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
            walk(module, Dispatcher([rule]), context.ancestors)
        except Exception as error:  # a rule bug must not cost the user the other rules
            if _caused_by_recursion(error):
                errors.append(_file_finding(
                    path, f"Cannot check {rule_class.code} ({rule_class.name}): the code is nested too "
                          "deeply (RecursionError); other rules ran."))
                continue
            errors.append(_file_finding(
                path, f"Internal error in {rule_class.code} ({rule_class.name}): "
                      f"{type(error).__name__}: {error}. Please report it; other rules ran."))
        else:
            healthy.append(rule)
    return healthy, errors


def _to_finding(path: str, rule: Rule, report: Report, positions: Positions) -> LintFinding:
    where = positions[report.node]
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


def _to_fix(rule: Rule, spec: FixSpec, positions: Positions) -> Fix:
    edits: list[Edit] = []
    for item in spec.edits:
        where = positions[item.node]
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
