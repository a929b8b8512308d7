"""Which Python a file is written for: ``target-version``, and syntax newer than it.

libcst's parser accepts the union of every grammar it knows, whatever version it is told, and
CPython's ``compile()`` accepts the grammar of whichever interpreter runs dlsan.  So the verdict
"this file does not parse" would depend on the interpreter; instead dlsan parses with libcst and
then asks :class:`NewerSyntax` for constructs newer than the target version, the same answer on
every interpreter.

The target version comes from ``--target-version``, else ``[tool.dlsan] target-version``, else the
lower bound of the project's ``requires-python``, else the newest version dlsan knows.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from dlsan.lint.pyversion import PythonVersion, version_name

#: what each construct is called in the message, and the version that introduced it
_MATCH = ("`match` statements", (3, 10))
_EXCEPT_STAR = ("`except*`", (3, 11))
_STAR_INDEX = ("starred expressions in subscripts and annotations (`a[*b]`, `*args: *Ts`)", (3, 11))
_TYPE_PARAMS = ("type parameter lists (`def f[T]()`, `class C[T]`)", (3, 12))
_TYPE_ALIAS = ("`type` alias statements", (3, 12))
_FSTRING_QUOTES = ("f-string replacement fields holding the f-string's own quote or a backslash", (3, 12))
_TYPE_PARAM_DEFAULTS = ("type parameter defaults (`[T = int]`)", (3, 13))

_ALL = (_MATCH, _EXCEPT_STAR, _STAR_INDEX, _TYPE_PARAMS, _TYPE_ALIAS, _FSTRING_QUOTES, _TYPE_PARAM_DEFAULTS)


def checks_needed(target: PythonVersion) -> bool:
    """Whether any construct dlsan knows is newer than ``target`` (none is for the newest)."""
    return any(version > target for _, version in _ALL)


class NewerSyntax:
    """A visitor for the shared walk: the first construct newer than ``target``, if any."""

    def __init__(self, target: PythonVersion) -> None:
        self.target = target
        self.found: Optional[tuple[cst.CSTNode, str, PythonVersion]] = None

    def _flag(self, node: cst.CSTNode, construct: tuple[str, PythonVersion]) -> None:
        what, version = construct
        if self.found is None and version > self.target:
            self.found = (node, what, version)

    def message(self) -> str:
        assert self.found is not None
        _, what, version = self.found
        return (f"Cannot parse for target-version {version_name(self.target)}: {what} need Python "
                f"{version[0]}.{version[1]} (set `target-version` or `requires-python`).")

    def visit_Match(self, node: cst.Match) -> None:
        self._flag(node, _MATCH)

    def visit_TryStar(self, node: cst.TryStar) -> None:
        self._flag(node, _EXCEPT_STAR)

    def visit_Index(self, node: cst.Index) -> None:
        if node.star:
            self._flag(node, _STAR_INDEX)

    def visit_Parameters(self, node: cst.Parameters) -> None:
        star = node.star_arg
        if isinstance(star, cst.Param) and star.annotation is not None and isinstance(
                star.annotation.annotation, cst.StarredElement):
            self._flag(star, _STAR_INDEX)

    def visit_TypeParameters(self, node: cst.TypeParameters) -> None:
        self._flag(node, _TYPE_PARAMS)
        for param in node.params:
            if param.default is not None:
                self._flag(param, _TYPE_PARAM_DEFAULTS)

    def visit_TypeAlias(self, node: cst.TypeAlias) -> None:
        self._flag(node, _TYPE_ALIAS)

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        # before 3.12 an f-string was tokenized as one string first: a replacement field could hold
        # neither the closing quote sequence nor a backslash
        for part in node.parts:
            if isinstance(part, cst.FormattedStringExpression):
                text = _code(part.expression)
                if node.end in text or "\\" in text:
                    self._flag(node, _FSTRING_QUOTES)


_EMPTY = cst.Module(body=[])


def _code(node: cst.CSTNode) -> str:
    return _EMPTY.code_for_node(node)
