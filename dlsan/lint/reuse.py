"""What the lint of one version of a document keeps for the lint of its next version (the language
server's path): the parsed chunks, the scopes of the top-level definitions, the comments of each
chunk, the pre-order list of each top-level statement's nodes.

Each part is reused only where it is provably what a fresh lint would compute (see
:class:`~dlsan.lint.incremental.IncrementalParser`, :class:`~dlsan.lint.semantic.scopes.ScopeReuse`
and the methods below); the findings are always computed afresh from them, so they are
a fresh lint's (tests/lint/test_incremental.py holds the two equal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst

from dlsan.lint import suppressions
from dlsan.lint.incremental import IncrementalParser, same_statement, statement_key
from dlsan.lint.semantic.qualified import SiteReuse
from dlsan.lint.semantic.scopes import ScopeReuse
from dlsan.lint.text import line_endings, split_lines
from dlsan.lint.walk import Listed, Preorder, listed

_LINE_END = re.compile(r"\r\n?|\n")


@dataclass
class DocumentReuse:
    """One document's memory across versions (one per open document)."""

    parser: IncrementalParser = field(default_factory=IncrementalParser)
    scopes: ScopeReuse = field(default_factory=ScopeReuse)
    #: chunk text -> its comments, lines counted from the chunk's first (the last version's chunks)
    _comments: dict[str, list[suppressions.Comment]] = field(default_factory=dict)
    sites: SiteReuse = field(default_factory=SiteReuse)
    #: statement key -> the statement, its :func:`~dlsan.lint.walk.listed` and its place in the
    #: module's body (the last version's)
    _subtrees: dict[tuple[int, ...], tuple[cst.CSTNode, Listed, int]] = field(default_factory=dict)

    def preorder(self, module: cst.Module) -> Preorder:
        """:func:`~dlsan.lint.walk.preorder` of ``module``, from the last version's lists of the
        top-level statements it shares with it (a statement's list is a function of its subtree
        alone).  It tells :attr:`sites` whether those statements kept their order."""
        parts: list[Listed] = []
        kept: dict[tuple[int, ...], tuple[cst.CSTNode, Listed, int]] = {}
        in_order = True
        last = -1  # the place in the last version of the last statement kept from it
        for index, statement in enumerate(module.body):
            key = statement_key(statement)
            found = self._subtrees.get(key)
            if found is None or not same_statement(found[0], statement):
                own = listed(statement)
            else:
                old, own, was = found
                in_order = in_order and was > last
                last = was
                if old is not statement:  # the copy that moved lines before it: its own node first
                    own.nodes[0] = statement
                    own.places[id(statement)] = own.places.pop(id(old))
            kept[key] = (statement, own, index)
            parts.append(own)
        self._subtrees = kept
        self.sites.in_order = module if in_order else None
        return Preorder.of_parts(module, parts)

    def comments(self, source: str) -> list[suppressions.Comment]:
        """:func:`~dlsan.lint.suppressions.comments` of ``source``, tokenizing only the chunks
        that changed since the last version, when ``source`` is what the parser parsed last.

        A chunk starts a line that starts a top-level statement, outside any bracket or string
        and with no indentation open, where the tokenizer of the whole text stands as at the
        start of a file: so the chunk's comments, alone, are the whole text's on its lines.
        When a chunk does not tokenize, neither (most likely) does the whole text, and the whole
        text decides."""
        texts = self.parser.chunk_texts
        if not texts or "".join(texts) != source:
            return suppressions.comments(source)
        found: list[suppressions.Comment] = []
        kept: dict[str, list[suppressions.Comment]] = {}
        line = 0  # lines before the chunk
        for text in texts:
            own = kept.get(text)
            if own is None:
                own = self._comments.get(text)
            if own is None:
                own = suppressions.comments_if_tokenizes(text)
                if own is None:
                    return suppressions.comments(source)
            kept[text] = own
            found.extend((line + at, column, comment) for at, column, comment in own)
            line += len(_LINE_END.findall(text))
        self._comments = kept
        return found


def comment_edits(old: str, old_comments: list[suppressions.Comment], new: str,
                  new_comments: list[suppressions.Comment]) -> set[int] | None:
    """When ``new`` differs from ``old`` in comments only (and the blanks before them), the lines
    that differ; None when any code differs.  Every line then keeps its code at the same columns,
    so every node of the tree keeps its position.  The comments are each text's
    :func:`~dlsan.lint.suppressions.comments` (a ``#`` in a string is none)."""
    old_lines, new_lines = split_lines(old), split_lines(new)
    if len(old_lines) != len(new_lines) or line_endings(old) != line_endings(new):
        return None
    old_at = {line: column for line, column, _ in old_comments}
    new_at = {line: column for line, column, _ in new_comments}
    changed: set[int] = set()
    for number, (before, after) in enumerate(zip(old_lines, new_lines), start=1):
        if before == after:
            continue
        if before[:old_at.get(number, len(before))].rstrip() != after[:new_at.get(number, len(after))].rstrip():
            return None
        changed.add(number)
    return changed
