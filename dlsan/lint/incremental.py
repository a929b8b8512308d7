"""Parse a document again after an edit, reusing what did not change (the language server's path).

One libcst parse of a 2,000-line file costs more than an editor can wait for, and an edit changes
one or two top-level statements.  So the text is cut into *chunks*, each starting at a line that
begins a top-level statement (column 0, not a comment, not ``else``/``elif``/``except``/``finally``,
not a ``def``/``class`` right under its decorator) and running to the next such line, so that the
blank lines and comments after a statement travel with it.  Each chunk is parsed alone, once: a
chunk of unchanged text is answered from the previous version with the very same node objects
and their positions.

A chunk parsed alone must give exactly the nodes the whole file would, which holds because a chunk
starts where the tokenizer stands at column 0 outside any bracket or string:

* a cut inside a bracket, a string or after a backslash leaves a chunk that does not parse; it is
  then merged with the next one (a bounded number of times);
* every chunk but the first is parsed after a ``pass`` line written with the file's newline, so
  its comments go to its first statement's ``leading_lines`` and its default newline is the
  file's; the lines libcst gives to the chunk's module footer (those after the last statement's
  indented-block footers) are the next statement's ``leading_lines`` in the whole file, and are
  put there (on a copy of that statement node; its children stay shared);
* the module's default indentation is libcst's: the first indented block's; a chunk whose own
  indented blocks were read with another one makes the whole document fall back to one parse.

Whenever anything is in doubt (a chunk that does not parse even merged, a file too deeply nested,
positions libcst cannot compute) :meth:`IncrementalParser.parse` returns None and the caller parses
the whole text as before, so parse errors are reported exactly as in a fresh lint.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import libcst as cst
from libcst.metadata import CodeRange

from dlsan.lint.positions import Positions, positions_of
from dlsan.lint.walk import children

#: libcst's own rule for a file's newline: the first line ending in it
_NEWLINE = re.compile(r"\r\n?|\n")
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+\Z")
#: lines that continue the statement before them, never start one
_CONTINUATIONS = ("else", "elif", "except", "finally")
_Key = tuple[bool, str, str]
_Statement = Union[cst.SimpleStatementLine, cst.BaseCompoundStatement]
#: failed chunk texts remembered at most (typing inside an open bracket fails on every keystroke)
_MAX_FAILED = 256
#: failed parses of a chunk grown with the next ones before giving up on reuse for this text
_MAX_MERGES = 8


@dataclass(frozen=True)
class Parsed:
    """A document's module, as the whole text would parse, and where each of its nodes is."""

    module: cst.Module
    positions: Positions


@dataclass(frozen=True)
class _Chunk:
    """One chunk of text parsed alone (after the ``pass`` line for all but the first chunk)."""

    text: str
    module: cst.Module
    #: the chunk's own statements (the ``pass`` line left out)
    statements: Sequence[_Statement]
    #: positions in the chunk's module: the ``pass`` line, when there is one, is line 1
    positions: Positions
    #: whether the chunk holds an indented block
    has_block: bool
    #: the indentation of the chunk's first indented block, which libcst read as its default
    own_indent: str


class IncrementalParser:
    """Parses successive versions of one document, keeping the chunks of the latest version."""

    def __init__(self) -> None:
        #: (first chunk?, newline, text) -> chunks parsed from that text (a text may occur twice
        #: in a file, and each occurrence needs nodes of its own)
        self._chunks: dict[_Key, list[_Chunk]] = {}
        #: chunk texts known not to parse alone
        self._failed: set[_Key] = set()
        #: node -> the chunk of the latest version it belongs to (kept up to date chunk by chunk:
        #: hashing every node of the file again per edit would cost more than the parse saved)
        self._owner: dict[cst.CSTNode, _Chunk] = {}
        #: the texts of the chunks of the last text parsed, in order (empty when it was not)
        self.chunk_texts: list[str] = []

    def parse(self, source: str) -> Parsed | None:
        """``source`` parsed as a whole, reusing unchanged chunks; None when in doubt (parse the
        whole text then).  The answer's positions hold until the next call."""
        from dlsan.lint.engine import on_parse_stack

        return on_parse_stack(lambda: self._parse(source), len(source))

    def _parse(self, source: str) -> Parsed | None:
        self.chunk_texts = []
        newline_match = _NEWLINE.search(source)
        newline = newline_match.group() if newline_match else "\n"
        pieces = _pieces(source)
        available = {key: list(found) for key, found in self._chunks.items()}
        used: dict[_Key, list[_Chunk]] = {}
        chunks: list[_Chunk] = []
        lines_before: list[int] = []
        line = 1
        i = 0
        while i < len(pieces):
            first = i == 0
            found = self._chunk_at(pieces, i, first, newline, available)
            if found is None:
                return None
            chunk, i = found
            chunks.append(chunk)
            lines_before.append(line - (1 if first else 2))
            line += len(_NEWLINE.findall(chunk.text))
        if not chunks:
            return None
        indent = next((chunk.own_indent for chunk in chunks if chunk.has_block), chunks[0].own_indent)
        for index, chunk in enumerate(chunks):
            if chunk.has_block and chunk.module.default_indent != indent:
                reindented = _reindented(chunk, indent)
                if reindented is None:
                    return None
                chunks[index] = reindented
            used.setdefault((index == 0, newline, chunk.text), []).append(chunks[index])
        self._keep(used)
        parsed = _assemble(chunks, lines_before, indent, self._owner)
        if parsed is not None:
            self.chunk_texts = [chunk.text for chunk in chunks]
        return parsed

    def _keep(self, used: dict[_Key, list[_Chunk]]) -> None:
        """Make ``used`` the chunks of the latest version."""
        before = {id(chunk): chunk for found in self._chunks.values() for chunk in found}
        now = {id(chunk): chunk for found in used.values() for chunk in found}
        for key, chunk in before.items():
            if key not in now:
                for node in chunk.positions:
                    self._owner.pop(node, None)
        for key, chunk in now.items():
            if key not in before:
                self._owner.update(dict.fromkeys(chunk.positions, chunk))
        self._chunks = used

    def _chunk_at(self, pieces: Sequence[str], start: int, first: bool, newline: str,
                  available: dict[_Key, list[_Chunk]]) -> tuple[_Chunk, int] | None:
        """The chunk made of ``pieces[start:end]`` for the first ``end`` at which they parse
        alone, and ``end``; None when there is none worth looking for."""
        end = start + 1
        failures = 0
        while True:
            text = "".join(pieces[start:end])
            key = (first, newline, text)
            reusable = available.get(key)
            if reusable:
                return reusable.pop(0), end  # the earliest first: repeated texts keep their order
            if end < len(pieces) and (key in self._failed or _open_triple_quote(text)):
                end += 1
                continue
            try:
                chunk = _parse_chunk(text, first, newline)
            except cst.ParserSyntaxError:
                if len(self._failed) >= _MAX_FAILED:
                    self._failed.clear()
                self._failed.add(key)
                failures += 1
                if end == len(pieces) or failures > _MAX_MERGES:
                    return None
                end += 1
                continue
            return None if chunk is None else (chunk, end)


def statement_key(statement: cst.CSTNode) -> tuple[int, ...]:
    """The ids of every field of a top-level statement but its leading lines: the same for the
    statement and for the copy of it that :func:`_assemble` makes to move lines before it."""
    return tuple(id(value) for _, value in _fields(statement))


def same_statement(old: cst.CSTNode, new: cst.CSTNode) -> bool:
    """Whether ``new`` is ``old``, or a copy of it that differs in its ``leading_lines`` only
    (blank lines and comments, which no analysis reads: the walk skips them)."""
    return new is old or (type(new) is type(old) and all(value is getattr(new, name) for name, value in _fields(old)))


def _fields(statement: cst.CSTNode) -> list[tuple[str, object]]:
    return [(field.name, getattr(statement, field.name)) for field in dataclasses.fields(statement)
            if field.name != "leading_lines"]


def _pieces(source: str) -> list[str]:
    """``source`` cut before every line that may start a top-level statement (the first piece
    also holds whatever comes before the first statement)."""
    pieces: list[str] = []
    current: list[str] = []
    after_decorator = False
    for match in _LINE.finditer(source):
        line = match.group()
        starts = line[:1] not in ("", " ", "\t", "\f", "#", "\r", "\n") and not line.startswith(_CONTINUATIONS)
        if starts and not after_decorator and any(not _is_blank(text) for text in current):
            pieces.append("".join(current))
            current = []
        if starts:
            after_decorator = line.startswith("@")
        current.append(line)
    if current:
        pieces.append("".join(current))
    return pieces


def _is_blank(line: str) -> bool:
    stripped = line.strip(" \t\f\r\n")
    return not stripped or stripped.startswith("#")


def _open_triple_quote(text: str) -> bool:
    """An odd number of triple quotes of one kind: most likely cut inside a string (a guess that
    only saves a parse; a wrong guess merges a chunk that could have stood alone)."""
    return text.count('"""') % 2 == 1 or text.count("'''") % 2 == 1


def _prefix(first: bool, newline: str) -> str:
    return "" if first else "pass" + newline


def _parse_chunk(text: str, first: bool, newline: str) -> _Chunk | None:
    """The chunk of ``text``; None when it cannot stand for its part of the whole file; raises
    ParserSyntaxError when it does not parse alone."""
    from dlsan.lint.engine import too_deep

    source = _prefix(first, newline) + text
    if too_deep(source):
        return None
    try:
        module = cst.parse_module(source)
    except (RecursionError, MemoryError, ValueError):
        return None
    try:
        positions = positions_of(module)
    except (RecursionError, MemoryError, KeyError):  # see the engine: positions recurse
        return None
    if module.code != source:
        return None
    statements = module.body if first else module.body[1:]
    return _Chunk(text, module, statements, positions, any(_has_block(s) for s in statements),
                  module.default_indent)


def _reindented(chunk: _Chunk, indent: str) -> _Chunk | None:
    """``chunk`` as read in a file whose default indentation is ``indent`` (its own is that of its
    first indented block): blocks indented by the chunk's default say so, those by ``indent`` do
    not."""
    module = chunk.module.visit(_Reindent(chunk.module.default_indent, indent))
    assert isinstance(module, cst.Module)
    module = module.with_changes(default_indent=indent)
    try:
        positions = positions_of(module)
    except (RecursionError, MemoryError, KeyError):
        return None
    if module.code != chunk.module.code:
        return None
    statements = module.body[len(module.body) - len(chunk.statements):]
    return _Chunk(chunk.text, module, statements, positions, True, chunk.own_indent)


class _Reindent(cst.CSTTransformer):
    def __init__(self, own: str, default: str) -> None:
        super().__init__()
        self._own = own
        self._default = default

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        indent = self._own if updated_node.indent is None else updated_node.indent
        return updated_node.with_changes(indent=None if indent == self._default else indent)


def _has_block(root: cst.CSTNode) -> bool:
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.IndentedBlock):
            return True
        stack.extend(children(node))
    return False


def _assemble(chunks: Sequence[_Chunk], lines_before: Sequence[int], indent: str,
              owner: Mapping[cst.CSTNode, _Chunk]) -> Parsed | None:
    first, last = chunks[0], chunks[-1]
    body: list[_Statement] = []
    shifts = {id(chunk): shift for chunk, shift in zip(chunks, lines_before)}
    aliases: dict[cst.CSTNode, cst.CSTNode] = {}
    footer: Sequence[cst.EmptyLine] = ()
    for index, chunk in enumerate(chunks):
        for position, statement in enumerate(chunk.statements):
            if position == 0 and footer:
                moved = statement.with_changes(leading_lines=[*footer, *statement.leading_lines])
                aliases[moved] = statement
                statement = moved
            body.append(statement)
        footer = chunk.module.footer
        if not chunk.statements and index > 0:
            return None  # a chunk of comments only: cannot happen after the first
    module = cst.Module(
        body=body, header=first.module.header, footer=last.module.footer, encoding=first.module.encoding,
        default_indent=indent,
        default_newline=first.module.default_newline, has_trailing_newline=last.module.has_trailing_newline)
    end = last.positions[last.module].end
    whole = CodeRange((1, 0), (end.line + lines_before[-1], end.column))
    return Parsed(module, _ChunkedPositions(module, whole, owner, shifts, aliases))


class _ChunkedPositions(Mapping[cst.CSTNode, CodeRange]):
    """Every node's range in the whole file, from the chunks' own tables shifted by the lines
    before each chunk (computed when asked: most nodes are never asked for)."""

    def __init__(self, module: cst.Module, whole: CodeRange, owner: Mapping[cst.CSTNode, _Chunk],
                 shifts: Mapping[int, int], aliases: Mapping[cst.CSTNode, cst.CSTNode]) -> None:
        self._module = module
        self._whole = whole
        #: node -> its chunk; shifts: id of a chunk -> the lines before it (chunk lines are the
        #: chunk module's, the ``pass`` line included)
        self._owner = owner
        self._shifts = shifts
        #: a statement moved onto the lines before it (a copy) -> the chunk's own statement
        self._aliases = aliases

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        if node is self._module:
            return self._whole
        node = self._aliases.get(node, node)
        chunk = self._owner[node]
        shift = self._shifts[id(chunk)]
        found = chunk.positions[node]
        if not shift:
            return found
        return CodeRange((found.start.line + shift, found.start.column), (found.end.line + shift, found.end.column))

    def __iter__(self) -> Iterator[cst.CSTNode]:
        stack: list[cst.CSTNode] = [self._module]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children)

    def __len__(self) -> int:
        return sum(1 for _ in self)
