"""Per-file state shared by all rules during the one walk.

``FileContext`` holds the parsed module, what its names refer to and the chain of enclosing nodes, and
the tables of facts computed about the file, each at most once and only when a rule asks.

A kind of fact is an object, never a string: a :class:`Fact` declared once at module level and
asked for with :meth:`Fact.get` (its table of answers lives in the file's context), or a function
made a fact by :func:`file_fact` / :func:`node_fact`.  Two kinds of facts cannot collide, a
misspelt one is a ``NameError``, and keys and answers are type-checked.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import libcst as cst

from dlsan.lint.positions import Positions, positions_of
from dlsan.lint.semantic.model import SemanticModel
from dlsan.lint.semantic.qualified import SiteNames
from dlsan.lint.walk import Preorder, preorder

if TYPE_CHECKING:
    from dlsan.lint.reuse import DocumentReuse

N = TypeVar("N", bound=cst.CSTNode)
K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
#: a notebook's map from a line of its virtual module to (cell number, line within the cell): the
#: place a finding there is shown at; ``None`` for a line outside every cell
CellOf = Callable[[int], "tuple[int, int] | None"]

_EMPTY_MODULE = cst.Module(body=[])
#: types asked for by :meth:`FileContext.enclosing` -> node type -> whether it is one of them
_IS_A: dict[tuple[type, ...], dict[type, bool]] = {}


class FileContext:
    def __init__(self, path: str, source: str, module: cst.Module, positions: Positions | None = None,
                 reuse: DocumentReuse | None = None, cell_of: CellOf | None = None) -> None:
        self.path = path
        self.source = source
        self.module = module
        #: where a line of a notebook's virtual module is shown (``None`` for a file of its own)
        self.cell_of = cell_of
        #: what dotted names refer to where they are written
        self.names = SiteNames(module, lambda: self.semantic, reuse.sites if reuse is not None else None)
        #: enclosing nodes of the node being visited, outermost first (maintained by the walker)
        self.ancestors: list[cst.CSTNode] = []
        #: each kind of fact's answers, by key (see :class:`Fact`)
        self._facts: dict[Fact[Any, Any], dict[Any, Any]] = {}
        self._semantic: SemanticModel | None = None
        #: what the lint of the last version of this document kept, if any (the server's path)
        self.reuse = reuse
        self._preorder: Preorder | None = None
        self._positions = positions
        #: project files (path -> content digest) whose code decided something in this file
        self.dependencies: dict[str, str] = {}

    @property
    def semantic(self) -> SemanticModel:
        """The file's semantic model (scopes, bindings, values), built on first use."""
        if self._semantic is None:
            self._semantic = SemanticModel(self.module, self.reuse.scopes if self.reuse is not None else None)
        return self._semantic

    @property
    def preorder(self) -> Preorder:
        """The module's nodes in source order, with each one's subtree range, computed on first
        use (from the last version's statements when there is one)."""
        if self._preorder is None:
            self._preorder = self.reuse.preorder(self.module) if self.reuse is not None else preorder(self.module)
        return self._preorder

    @property
    def positions(self) -> Positions:
        """Every node's range, computed on first use (for messages, and for the findings)."""
        if self._positions is None:
            self._positions = positions_of(self.module)
        return self._positions

    def release(self) -> None:
        """Drop what the lint computed: its facts (keyed by rules, which refer to this context),
        the model and the site names (which ask this context for the model).  Each refers back
        here, so the whole of it would otherwise be freed only by the cyclic collector, which then
        traverses it, every generation up: in the server, at the edits after."""
        self._facts.clear()
        self.names.keep(built=self._semantic is not None)
        self._semantic = None
        del self.names

    def line_of(self, node: cst.CSTNode) -> int:
        """The 1-based line ``node`` starts on."""
        return self.positions[node].start.line

    def place_of(self, node: cst.CSTNode) -> str:
        """Where ``node`` starts, as a message names it for the user: ``line 12``, or in a notebook
        ``line 3 of cell 7`` (where findings are shown; a line of the virtual module that joins the
        cells means nothing to the user)."""
        line = self.line_of(node)
        found = self.cell_of(line) if self.cell_of is not None else None
        return f"line {line}" if found is None else f"line {found[1]} of cell {found[0]}"

    # -- where are we? -----------------------------------------------------------------------

    def enclosing(self, *types: type[N]) -> N | None:
        """The innermost enclosing node of one of ``types``, if any."""
        # isinstance, answered per node type once: libcst's classes are ABCs, slow to ask, and
        # rules ask this at nearly every node
        answers = _IS_A.get(types)
        if answers is None:
            answers = _IS_A[types] = {}
        for node in reversed(self.ancestors):
            node_type = type(node)
            answer = answers.get(node_type)
            if answer is None:
                answer = answers[node_type] = issubclass(node_type, types)
            if answer:
                return node  # type: ignore[return-value]  # an instance of one of types
        return None

    def parent(self) -> cst.CSTNode | None:
        return self.ancestors[-1] if self.ancestors else None

    # -- source text -------------------------------------------------------------------------

    @staticmethod
    def code(node: cst.CSTNode) -> str:
        """Source of ``node`` as it would be written on its own (outer parentheses dropped)."""
        if type(node) is cst.Name:
            return node.value  # what the code generator writes of it, without building a module's state
        if isinstance(node, cst.BaseExpression) and (node.lpar or node.rpar):
            node = node.with_changes(lpar=(), rpar=())
        return _EMPTY_MODULE.code_for_node(node)


class Fact(Generic[K, T]):
    """One kind of fact about a file, answered at most once per file and key.

    Declare it once, at module level, with the types of its keys and answers
    (``_TRAINS: Fact[cst.CSTNode, bool] = Fact("trains")``), and ask with
    ``_TRAINS.get(context, node, compute)``.  Keys are nodes, scopes and bindings (hashed by
    identity: each is itself for the whole file) or tuples of those and plain values.
    """

    def __init__(self, name: str) -> None:
        #: for messages and debugging only: the object itself is the key
        self.name = name

    def __repr__(self) -> str:
        return f"Fact({self.name!r})"

    def _table(self, context: FileContext) -> dict[K, T]:
        table = context._facts.get(self)
        if table is None:
            table = context._facts[self] = {}
        return table

    def get(self, context: FileContext, key: K, compute: Callable[[], T]) -> T:
        """The answer for ``key``: ``compute()`` the first time, the same answer afterwards."""
        table: dict[K, T] | None = context._facts.get(self)  # inlined _table: asked at nearly every node
        if table is None:
            table = context._facts[self] = {}
        try:
            return table[key]
        except KeyError:
            value = table[key] = compute()
            return value

    def get_guarded(self, context: FileContext, key: K, compute: Callable[[], T], reentry: T) -> T:
        """Like :meth:`get`, for facts that may depend on themselves (a ``forward`` that calls
        itself, ``x = x + 1`` in a loop): asked again for ``key`` while computing it, the answer
        is ``reentry`` (not remembered)."""
        table = self._table(context)
        if key in table:
            return table[key]
        pending = _PENDING._table(context)
        if (self, key) in pending:
            return reentry
        pending[(self, key)] = True
        try:
            value = table[key] = compute()
        finally:
            del pending[(self, key)]
        return value


#: the (fact, key) pairs being computed by :meth:`Fact.get_guarded`
_PENDING: Fact[tuple[Fact[Any, Any], Any], bool] = Fact("pending")


def file_fact(compute: Callable[[FileContext], T]) -> Callable[[FileContext], T]:
    """Make ``compute(context)`` a fact about the whole file: computed at most once per file."""
    fact: Fact[None, T] = Fact(compute.__qualname__)

    @functools.wraps(compute)
    def cached(context: FileContext) -> T:
        table = fact._table(context)
        try:
            return table[None]
        except KeyError:
            value = table[None] = compute(context)
            return value

    return cached


def node_fact(compute: Callable[[FileContext, K], T]) -> Callable[[FileContext, K], T]:
    """Make ``compute(context, key)`` a fact about ``key`` (a node, usually): computed at most
    once per file and key."""
    fact: Fact[K, T] = Fact(compute.__qualname__)

    @functools.wraps(compute)
    def cached(context: FileContext, key: K) -> T:
        table: dict[K, T] | None = context._facts.get(fact)  # inlined Fact._table: asked for on every node
        if table is None:
            table = context._facts[fact] = {}
        try:
            return table[key]
        except KeyError:
            value = table[key] = compute(context, key)
            return value

    return cached
