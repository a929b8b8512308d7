"""Per-file state shared by all rules during the one walk.

``FileContext`` holds the parsed module, the name resolver and the chain of enclosing nodes, and
caches expensive facts so that they are computed at most once per file, and only when a rule asks
(:meth:`FileContext.fact`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import libcst as cst

from dlsan.lint.names import NameResolver
from dlsan.lint.positions import Positions, positions_of
from dlsan.lint.semantic.model import SemanticModel

N = TypeVar("N", bound=cst.CSTNode)
T = TypeVar("T")

_EMPTY_MODULE = cst.Module(body=[])


class FileContext:
    def __init__(self, path: str, source: str, module: cst.Module) -> None:
        self.path = path
        self.source = source
        self.module = module
        self.names = NameResolver.for_module(module)
        #: enclosing nodes of the node being visited, outermost first (maintained by the walker)
        self.ancestors: list[cst.CSTNode] = []
        self._facts: dict[object, Any] = {}
        self._semantic: SemanticModel | None = None
        self._positions: Positions | None = None
        #: project files (path -> content digest) whose code decided something in this file
        self.dependencies: dict[str, str] = {}

    @property
    def semantic(self) -> SemanticModel:
        """The file's semantic model (scopes, bindings, values), built on first use."""
        if self._semantic is None:
            self._semantic = SemanticModel(self.module)
        return self._semantic

    @property
    def positions(self) -> Positions:
        """Every node's range, computed on first use (for messages, and for the findings)."""
        if self._positions is None:
            self._positions = positions_of(self.module)
        return self._positions

    def line_of(self, node: cst.CSTNode) -> int:
        """The 1-based line ``node`` starts on."""
        return self.positions[node].start.line

    # -- lazily computed shared facts ------------------------------------------------------------

    def fact(self, key: object, compute: Callable[[], T]) -> T:
        """``compute()`` once per file and key; later calls return the cached value."""
        try:
            return cast(T, self._facts[key])
        except KeyError:
            value = self._facts[key] = compute()
            return value

    # -- where are we? -----------------------------------------------------------------------

    def enclosing(self, *types: type[N]) -> N | None:
        """The innermost enclosing node of one of ``types``, if any."""
        for node in reversed(self.ancestors):
            if isinstance(node, types):
                return node
        return None

    def parent(self) -> cst.CSTNode | None:
        return self.ancestors[-1] if self.ancestors else None

    # -- source text -------------------------------------------------------------------------

    @staticmethod
    def code(node: cst.CSTNode) -> str:
        """Source of ``node`` as it would be written on its own (outer parentheses dropped)."""
        if isinstance(node, cst.BaseExpression) and (node.lpar or node.rpar):
            node = node.with_changes(lpar=(), rpar=())
        return _EMPTY_MODULE.code_for_node(node)
