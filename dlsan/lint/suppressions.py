"""Suppressions: inline on the finding's line, or for a whole file; which of them are unused
(DLS001); and adding them for every current finding (``--add-noqa``).

    x = torch.load(f)  # dlsan: ignore[DLS602]
    x = torch.load(f)  # dlsan: ignore[torch-load-without-weights-only, DLS501]
    x = torch.load(f)  # noqa: DLS602
    x = torch.load(f)  # noqa: DLS6          (a code prefix: every DLS6xx, as flake8 reads it)
    x = torch.load(f)  # dlsan: ignore        (everything on this line)
    x = torch.load(f)  # noqa                 (everything on this line, as flake8 does)
    # dlsan: ignore-file[DLS101]              (on a line of its own, anywhere: the whole file)
    # dlsan: ignore-file                      (every finding of the file)
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from dlsan.lint.finding import PARSE_ERROR_CODE, Edit, Fix, LintFinding
from dlsan.lint.text import line_starts, split_lines

_DLSAN_RE = re.compile(r"#\s*dlsan:\s*ignore(?![-\w])(?:\[(?P<items>[^\]]*)\])?", re.IGNORECASE)
_NOQA_RE = re.compile(r"#\s*noqa\b(?::\s*(?P<items>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_RE = re.compile(r"^[ \t\f]*#\s*dlsan:\s*ignore-file(?![-\w])(?:\[(?P<items>[^\]]*)\])?",
                      re.IGNORECASE | re.MULTILINE)
_CODE_LIKE = re.compile(r"^[A-Z]+[0-9]+$")
_ITEM_SPLIT = re.compile(r"[\s,]+")

ALL = "*"
UNUSED_SUPPRESSION_CODE = "DLS001"
UNUSED_SUPPRESSION_NAME = "unused-suppression"


def _items(text: str | None) -> frozenset[str]:
    if text is None:
        return frozenset({ALL})
    return frozenset(item.strip().upper() for item in _ITEM_SPLIT.split(text) if item.strip())


def suppressed_on_line(line: str) -> frozenset[str]:
    """Codes and names suppressed on ``line``; ``{"*"}`` when everything is."""
    if "#" not in line:
        return frozenset()
    found: set[str] = set()
    for regex in (_DLSAN_RE, _NOQA_RE):
        for match in regex.finditer(line):
            found |= _items(match.group("items"))
    return frozenset(found)


def ignored_in_file(source: str) -> frozenset[str]:
    """What ``# dlsan: ignore-file[...]`` comments suppress in the whole file (``{"*"}``: all)."""
    if "ignore-file" not in source:
        return frozenset()
    found: set[str] = set()
    for match in _FILE_RE.finditer(source):
        found |= _items(match.group("items"))
    return frozenset(found)


def covers(item: str, code: str, name: str) -> bool:
    """Whether one suppression item names the finding: ``*``, its name, its code, or a code prefix
    (``DLS6`` covers DLS601, as flake8 reads ``# noqa: E1``)."""
    return item == ALL or item == name.upper() or (_CODE_LIKE.match(item) is not None and code.startswith(item))


def is_suppressed(line: str, code: str, name: str) -> bool:
    return any(covers(item, code, name) for item in suppressed_on_line(line))


# -- applying them, and DLS001 -------------------------------------------------------------------


@dataclass(frozen=True)
class RuleId:
    """What DLS001 needs to know of a rule: its code and name."""

    code: str
    name: str


def apply(
    path: str,
    source: str,
    findings: Sequence[LintFinding],
    *,
    ran: Sequence[RuleId] = (),
    known: Iterable[str] = (),
    audit: bool = False,
    comments_of: Callable[[str], list[Comment]] | None = None,
) -> list[LintFinding]:
    """``findings`` minus the suppressed ones; with ``audit``, plus a DLS001 finding for each
    suppression comment that names a rule in ``ran`` (or a code in no rule of ``known``) yet
    suppressed nothing.  A code of a rule that did not run on the file is never called unused.
    ``comments_of``: what gives the source's comments (:func:`comments` when not given, or the
    same answer from what an earlier version's lint kept)."""
    lines = split_lines(source)
    whole_file = ignored_in_file(source)
    used: set[tuple[int, str]] = set()
    kept: list[LintFinding] = []
    for finding in findings:
        if any(covers(item, finding.code, finding.name) for item in whole_file):
            continue
        text = lines[finding.line - 1] if finding.line <= len(lines) else ""
        matched = [item for item in suppressed_on_line(text) if covers(item, finding.code, finding.name)]
        if matched:
            used.update((finding.line, item) for item in matched)
        else:
            kept.append(finding)
    if audit and ("noqa" in source.lower() or "dlsan" in source.lower()):
        found = (comments_of or comments)(source)
        for unused in _unused(path, source, found, used, ran, frozenset(known) | {r.code for r in ran}):
            on_line = suppressed_on_line(lines[unused.line - 1]) - {ALL}  # a blanket one is what is unused
            if not any(covers(item, unused.code, unused.name) for item in whole_file | on_line):
                kept.append(unused)
    return kept


def _tokens(source: str) -> Iterator[tokenize.TokenInfo]:
    """``source``'s tokens, numbered as :func:`split_lines` numbers lines (a lone ``\r`` ends a line
    for libcst and dlsan, not for ``tokenize``); raises what tokenize raises."""
    return tokenize.generate_tokens(io.StringIO(_LINE_END.sub("\n", source), newline="\n").readline)


_LINE_END = re.compile(r"\r\n?")


#: (line, 0-based column, text) of a comment
Comment = tuple[int, int, str]


def comments(source: str) -> list[Comment]:
    """Every comment of ``source``; [] if the source does not tokenize."""
    found = comments_if_tokenizes(source)
    return [] if found is None else found


def comments_if_tokenizes(source: str) -> list[Comment] | None:
    """Every comment of ``source``; None if the source does not tokenize."""
    found = []
    try:
        for token in _tokens(source):
            if token.type == tokenize.COMMENT:
                found.append((token.start[0], token.start[1], token.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return found


def _ours(item: str, ran: Sequence[RuleId]) -> bool:
    """A dlsan code (``DLS...``) or one that names a rule that ran (a project prefix)."""
    return item.startswith("DLS") or any(covers(item, rule.code, rule.name) for rule in ran)


def _unused_items(
    items: frozenset[str], line: int, used: set[tuple[int, str]], ran: Sequence[RuleId], known: frozenset[str],
    *, blanket_is_ours: bool,
) -> list[str]:
    unused = []
    for item in sorted(items):
        if (line, item) in used or item in (PARSE_ERROR_CODE, UNUSED_SUPPRESSION_CODE):
            continue
        if item == ALL:
            if blanket_is_ours:
                unused.append(item)
        elif any(covers(item, rule.code, rule.name) for rule in ran):
            unused.append(item)
        elif _ours(item, ran) and _CODE_LIKE.match(item) and not any(code.startswith(item) for code in known):
            unused.append(item)  # a code no rule has: a typo, or a rule that was removed
    return unused


def _unused(path: str, source: str, found: list[Comment], used: set[tuple[int, str]], ran: Sequence[RuleId],
            known: frozenset[str]) -> list[LintFinding]:
    findings = []
    for line, column, comment in found:
        if "noqa" not in comment.lower() and "dlsan" not in comment.lower():
            continue
        new_comment = comment
        unused_all: list[str] = []
        for regex, blanket_is_ours in ((_DLSAN_RE, True), (_NOQA_RE, False)):
            for match in regex.finditer(new_comment):
                items = _items(match.group("items"))
                unused = _unused_items(items, line, used, ran, known, blanket_is_ours=blanket_is_ours)
                if unused:
                    unused_all += unused
                    new_comment = new_comment.replace(match.group(0), _without(match, items, unused), 1)
        if unused_all:
            findings.append(_unused_finding(path, source, line, column, comment, new_comment, unused_all))
    return findings


def _without(match: re.Match[str], items: frozenset[str], unused: list[str]) -> str:
    """The directive ``match`` with the ``unused`` items dropped ("" when none is left)."""
    left = [item for item in _ITEM_SPLIT.split(match.group("items") or "") if item.strip()
            and item.strip().upper() not in unused]
    if not left or ALL in unused:
        return ""
    text = match.group(0)
    start = match.start("items") - match.start(0)
    end = match.end("items") - match.start(0)
    return text[:start] + ", ".join(left) + text[end:]


def _unused_finding(path: str, source: str, line: int, column: int, comment: str, new_comment: str,
                    unused: list[str]) -> LintFinding:
    kept = new_comment.strip()
    text = split_lines(source)[line - 1]
    if kept and kept != "#":
        replacement = kept if kept.startswith("#") else f"# {kept}"
        edit = Edit(line, column + 1, line, column + len(comment) + 1, replacement)
    elif text[:column].strip():  # after code: drop the comment and the spaces before it
        code_end = len(text[:column].rstrip())
        edit = Edit(line, code_end + 1, line, column + len(comment) + 1, "")
    else:  # a line of its own: drop the line
        starts = line_starts(source)
        if line < len(starts):
            edit = Edit(line, 1, line + 1, 1, "")
        else:
            edit = Edit(line, 1, line, len(text) + 1, "")
    names = ", ".join("blanket `# dlsan: ignore`" if item == ALL else f"`{item}`" for item in unused)
    return LintFinding(
        path=path, line=line, column=column + 1, end_line=line, end_column=column + len(comment) + 1,
        code=UNUSED_SUPPRESSION_CODE, name=UNUSED_SUPPRESSION_NAME,
        message=f"Unused suppression: {names} suppresses nothing here (no such finding on this line, or no "
                "such rule); remove it so that it cannot hide a future finding",
        fix=Fix(message="Remove the unused suppression", applicability="safe", edits=(edit,)),
    )


# -- --add-noqa ---------------------------------------------------------------------------------


def _commentable_lines(source: str) -> set[int] | None:
    """Lines whose end may take a trailing comment: not inside a multi-line string and not
    continued by a backslash (None if the source does not tokenize)."""
    lines = split_lines(source)
    blocked: set[int] = set()
    try:
        for token in _tokens(source):
            if token.start[0] < token.end[0] and token.type != tokenize.NL and token.type != tokenize.NEWLINE:
                blocked.update(range(token.start[0], token.end[0]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return {i for i, text in enumerate(lines, 1) if i not in blocked and not text.endswith("\\")}


def add_noqa(source: str, findings: Iterable[LintFinding]) -> tuple[str, int, list[int]]:
    """``source`` with ``# noqa: CODES`` for ``findings`` on their lines, merged into an existing
    ``# noqa:`` list, every other comment kept; returns the text, how many lines got one, and the
    lines that could not take one (inside a multi-line string, or continued by ``\\``)."""
    codes: dict[int, set[str]] = {}
    for finding in findings:
        if finding.code not in (PARSE_ERROR_CODE, UNUSED_SUPPRESSION_CODE):
            codes.setdefault(finding.line, set()).add(finding.code)
    commentable = _commentable_lines(source) if codes else set()
    if not codes or commentable is None:
        return source, 0, sorted(codes)
    pieces = re.split(r"(\r\n|\r|\n)", source)  # text, ending, text, ending, ...
    changed, skipped = 0, []
    for line, wanted in sorted(codes.items()):
        if line not in commentable or 2 * (line - 1) >= len(pieces):
            skipped.append(line)
            continue
        text = pieces[2 * (line - 1)]
        new_codes = sorted(code for code in wanted if not is_suppressed(text, code, ""))
        if not new_codes:
            continue
        existing = _NOQA_RE.search(text)
        if existing is not None and existing.group("items") is not None:
            end = existing.end("items")
            text = text[:end] + ", " + ", ".join(new_codes) + text[end:]
        else:
            text = text.rstrip(" \t") + "  # noqa: " + ", ".join(new_codes)
        pieces[2 * (line - 1)] = text
        changed += 1
    return "".join(pieces), changed, skipped
