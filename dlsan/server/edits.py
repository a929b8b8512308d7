"""Edits as someone typing in an editor makes them, for the server's differential tests and its
latency benchmark: each is a function of the text (and a number, so that successive edits differ)
giving the edited text.  They find their place with libcst, so they edit code, not only comments.
And :func:`parse_verdict`, the comparison of an incremental parse with libcst's whole parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import libcst as cst
from libcst.metadata import CodeRange

from dlsan.lint.positions import positions_of

if TYPE_CHECKING:
    from dlsan.lint.incremental import IncrementalParser

Edit = Callable[[str, int], str]


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _statements(text: str) -> tuple[cst.Module, dict[cst.CSTNode, CodeRange]] | None:
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError:
        return None
    return module, dict(positions_of(module))


def _function_statement_lines(text: str) -> list[int]:
    """0-based lines holding one whole simple statement (an assignment or an expression, with no
    comment or semicolon) inside a function body."""
    parsed = _statements(text)
    if parsed is None:
        return []
    module, positions = parsed
    lines = _lines(text)
    found: list[int] = []

    class Finder(cst.CSTVisitor):
        depth = 0

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            self.depth += 1

        def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
            self.depth -= 1

        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            where = positions[node]
            line = where.start.line - 1
            if (self.depth and where.start.line == where.end.line and len(node.body) == 1
                    and isinstance(node.body[0], (cst.Assign, cst.AugAssign, cst.Expr))
                    and "#" not in lines[line] and ";" not in lines[line]):
                found.append(line)

    module.visit(Finder())
    return found


def code_edit(text: str, n: int) -> str:
    """An assignment (or expression statement) in a function body gets ``* 1`` at its end, as
    when its expression is being edited: the ``n``-th such statement, counted from the middle."""
    candidates = _function_statement_lines(text)
    if not candidates:
        return inserted_line(text, n)
    middle = len(candidates) // 2
    line = candidates[(middle + n) % len(candidates)]
    lines = _lines(text)
    stripped = lines[line].rstrip("\r\n")
    lines[line] = stripped + " * 1" + lines[line][len(stripped):]
    return "".join(lines)


def inserted_line(text: str, n: int) -> str:
    """A new top-level statement before the first function or class: every later line moves."""
    lines = _lines(text)
    at = next((i for i, line in enumerate(lines) if re.match(r"(async\s+def|def|class|@)\b", line)), 0)
    return "".join(lines[:at] + [f"EDITED_{n} = {n}\n"] + lines[at:])


def comment_edit(text: str, n: int) -> str:
    """The middle line's end gets a comment (what the benchmark measured first)."""
    lines = _lines(text)
    middle = len(lines) // 2
    stripped = lines[middle].rstrip("\r\n")
    lines[middle] = stripped + f"  # edit {n}" + lines[middle][len(stripped):]
    return "".join(lines)


def edit_sequence(text: str) -> list[tuple[str, str]]:
    """Versions of ``text``, each one edit away from the original (syntax errors included, and
    the text they are fixed back to), in the order an editing session might see them."""
    lines = _lines(text)
    middle = len(lines) // 2
    first_import = next((i for i, line in enumerate(lines) if line.startswith(("import ", "from "))), None)
    first_def = next((i for i, line in enumerate(lines) if line.startswith("def ")), None)
    blank = next((i for i in range(middle, len(lines)) if not lines[i].strip()), None)
    top_level = next((i for i in range(middle, len(lines)) if re.match(r"[A-Za-z_@]", lines[i])), middle)
    versions = [
        ("original", text),
        ("code edit in a function body", code_edit(text, 0)),
        ("another code edit", code_edit(text, 1)),
        ("a line inserted above everything", "import os\n" + text),
        ("a top-level statement inserted", inserted_line(text, 0)),
        ("comment edit", comment_edit(text, 0)),
        ("a blank line deleted", "".join(lines[:blank] + lines[blank + 1:]) if blank is not None else text),
        ("first import removed", "".join(lines[:first_import] + lines[first_import + 1:])
         if first_import is not None else text),
        ("syntax error typed", "".join(lines[:top_level] + ["def broken(:\n"] + lines[top_level:])),
        ("syntax error fixed", text),
        ("unclosed bracket typed", "".join(lines[:top_level] + ["value = call(\n"] + lines[top_level:])),
        ("decorator added", "".join(lines[:first_def] + ["@torch.no_grad()\n"] + lines[first_def:])
         if first_def is not None else text),
        ("truncated in the middle", "".join(lines[:middle])),
        ("original again", text),
        ("windows newlines", text.replace("\n", "\r\n")),
        ("windows newlines, code edit", code_edit(text.replace("\n", "\r\n"), 0)),
    ]
    return versions


def _all_nodes(module: cst.Module) -> Iterator[cst.CSTNode]:
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def parse_verdict(parser: IncrementalParser, text: str) -> str:
    """'reused', 'fallback', 'both fail', or what differs."""
    try:
        whole: cst.Module | None = cst.parse_module(text)
    except Exception:  # libcst's verdict: the engine reports a DLS000
        whole = None
    parsed = parser.parse(text)
    if whole is None:
        return "both fail" if parsed is None else "MISMATCH: parsed a text libcst rejects"
    if parsed is None:
        return "fallback"
    if parsed.module.code != text:
        return "MISMATCH: code"
    if not whole.deep_equals(parsed.module):
        return "MISMATCH: tree"
    expected = positions_of(whole)
    for theirs, ours in zip(_all_nodes(whole), _all_nodes(parsed.module)):
        if parsed.positions[ours] != expected[theirs]:
            return f"MISMATCH: position of {type(theirs).__name__}"
    return "reused"
