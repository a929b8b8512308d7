"""One fast depth-first walk over a libcst tree, dispatching to every rule at once.

libcst's own ``node.visit`` rebuilds each node's children while it walks and calls four hooks per
node and attribute; for read-only linting that is most of the cost of a run.  This walker reads
the dataclass fields of each node directly, skips the purely syntactic ones (whitespace, commas,
brackets, operators: rules read those from their parent when they need them) and calls only the
``visit_<Type>`` / ``leave_<Type>`` methods that some rule defines.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import libcst as cst

VisitFn = Callable[[Any], Any]
#: where a listed node lies: the list it is in, and the range of that list its subtree fills
#: (itself, then its descendants)
Place = tuple[list[cst.CSTNode], int, int]

_SYNTAX_FIELDS = frozenset(
    {
        "lpar", "rpar", "lbracket", "rbracket", "lbrace", "rbrace", "comma", "colon", "equal",
        "dot", "semicolon", "header", "footer", "leading_lines", "lines_after_decorators",
        "trailing_whitespace", "newline", "operator", "asynchronous", "walrus", "arrow",
        "default_comma", "star_arg", "first_line", "empty_lines", "indent",
    }
)

_FIELDS_BY_TYPE: dict[type, tuple[str, ...]] = {}


def _child_fields(node_type: type) -> tuple[str, ...]:
    fields = _FIELDS_BY_TYPE.get(node_type)
    if fields is None:
        fields = tuple(
            field.name
            for field in dataclasses.fields(node_type)
            if field.name not in _SYNTAX_FIELDS and not field.name.startswith("whitespace")
        )
        _FIELDS_BY_TYPE[node_type] = fields
    return fields


class Dispatcher:
    """Maps node types to the visit/leave methods of a set of visitor objects."""

    def __init__(self, visitors: Iterable[object]) -> None:
        self._visit: dict[str, list[VisitFn]] = {}
        self._leave: dict[str, list[VisitFn]] = {}
        for visitor in visitors:
            for attr in dir(type(visitor)):
                if attr.startswith("visit_"):
                    self._visit.setdefault(attr[6:], []).append(getattr(visitor, attr))
                elif attr.startswith("leave_"):
                    self._leave.setdefault(attr[6:], []).append(getattr(visitor, attr))
        self._visit_by_type: dict[type, tuple[VisitFn, ...]] = {}
        self._leave_by_type: dict[type, tuple[VisitFn, ...]] = {}
        self._hooks_by_type: dict[type, tuple[tuple[VisitFn, ...], tuple[VisitFn, ...]]] = {}

    def visits(self, node_type: type) -> tuple[VisitFn, ...]:
        found = self._visit_by_type.get(node_type)
        if found is None:
            found = self._visit_by_type[node_type] = tuple(self._visit.get(node_type.__name__, ()))
        return found

    def leaves(self, node_type: type) -> tuple[VisitFn, ...]:
        found = self._leave_by_type.get(node_type)
        if found is None:
            found = self._leave_by_type[node_type] = tuple(self._leave.get(node_type.__name__, ()))
        return found

    def hooks(self, node_type: type) -> tuple[tuple[VisitFn, ...], tuple[VisitFn, ...]]:
        """(:meth:`visits`, :meth:`leaves`) of ``node_type``, in one lookup."""
        found = self._hooks_by_type.get(node_type)
        if found is None:
            found = self._hooks_by_type[node_type] = (self.visits(node_type), self.leaves(node_type))
        return found


def walk(root: cst.CSTNode, dispatcher: Dispatcher, ancestors: list[cst.CSTNode]) -> None:
    """Visit ``root`` and its descendants in source order, keeping ``ancestors`` up to date.

    ``ancestors`` holds the chain of enclosing nodes of the node being visited (not the node
    itself), so rules can ask "am I inside a loop / a ``with torch.no_grad()``" without a second
    pass.  An explicit stack keeps deeply nested input from hitting the recursion limit.
    """
    stack: list[tuple[cst.CSTNode, bool]] = [(root, False)]
    push = stack.append
    pop = stack.pop
    while stack:
        node, leaving = pop()
        node_type = type(node)
        if leaving:
            ancestors.pop()
            for leave in dispatcher.leaves(node_type):
                leave(node)
            continue
        for visit in dispatcher.visits(node_type):
            visit(node)
        push((node, True))
        ancestors.append(node)
        for child in reversed(children(node)):
            push((child, False))


def walk_listed(tree: Preorder, dispatcher: Dispatcher, ancestors: list[cst.CSTNode]) -> None:
    """:func:`walk` over a tree already listed by :func:`preorder`: the same calls in the same
    order, with no child looked up again (the language server's path, once per edit: its loop is
    written for the interpreter, one lookup of a node's hooks and one of its subtree's end)."""
    hooks = dispatcher.hooks
    known = dispatcher._hooks_by_type
    root = tree.root
    root_visits, root_leaves = hooks(type(root))
    for visit in root_visits:
        visit(root)
    ancestors.append(root)
    for part in tree.parts:
        nodes, places = part.nodes, part.places
        ends: list[int] = []  # where the subtree of each node of ``ancestors`` ends in ``nodes``
        pending: list[tuple[VisitFn, ...]] = []  # the leave hooks of each node of ``ancestors``
        for index, node in enumerate(nodes):
            while ends and ends[-1] <= index:
                ends.pop()
                done = ancestors.pop()
                for leave in pending.pop():
                    leave(done)
            node_type = type(node)
            visits, leaves = known.get(node_type) or hooks(node_type)
            for visit in visits:
                visit(node)
            ancestors.append(node)
            ends.append(places[id(node)][2])
            pending.append(leaves)
        while ends:
            ends.pop()
            done = ancestors.pop()
            for leave in pending.pop():
                leave(done)
    ancestors.pop()
    for leave in root_leaves:
        leave(root)


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The non-syntax child nodes of ``node``, in field order."""
    found: list[cst.CSTNode] = []
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        value_type = type(value)
        if value_type is tuple or value_type is list:
            found.extend(item for item in value if _is_node_type(type(item)))
        elif _is_node_type(value_type):
            found.append(value)
    return found


_NODE_TYPES: dict[type, bool] = {}


def _is_node_type(value_type: type) -> bool:
    """``issubclass(value_type, cst.CSTNode)``, remembered: ``CSTNode`` is an ABC, and asking an
    ABC about an instance is several times slower than a dictionary lookup."""
    known = _NODE_TYPES.get(value_type)
    if known is None:
        known = _NODE_TYPES[value_type] = issubclass(value_type, cst.CSTNode)
    return known


def descendants(root: cst.CSTNode) -> list[cst.CSTNode]:
    """Every node below ``root`` (not ``root`` itself), pre-order, syntax nodes skipped."""
    found: list[cst.CSTNode] = []
    stack = list(reversed(children(root)))
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(reversed(children(node)))
    return found


@dataclass(frozen=True)
class Listed:
    """One subtree's nodes in source order (its root first), and where each of them lies."""

    nodes: list[cst.CSTNode]
    #: id of each node -> its :data:`Place` (in ``nodes``)
    places: dict[int, Place]


def listed(root: cst.CSTNode) -> Listed:
    """``root`` and every node below it in source order, with each node's place."""
    nodes: list[cst.CSTNode] = []
    places: dict[int, Place] = {}
    starts: list[int] = []
    stack: list[cst.CSTNode | None] = [root]
    while stack:
        node = stack.pop()
        if node is None:  # leaving the subtree that started last
            start = starts.pop()
            places[id(nodes[start])] = (nodes, start, len(nodes))
            continue
        starts.append(len(nodes))
        nodes.append(node)
        stack.append(None)
        stack.extend(reversed(children(node)))
    return Listed(nodes, places)


@dataclass(frozen=True)
class Preorder:
    """A tree in source order: its root, then each of its children's subtrees listed alone.

    Listed per child, a top-level statement's list (with its places) is a function of its own
    subtree: the language server keeps it for the next version of the document as long as the
    statement is unchanged (:meth:`~dlsan.lint.reuse.DocumentReuse.preorder`), and a version's
    table of places is the union of its statements' own tables, merged without a new entry."""

    root: cst.CSTNode
    parts: Sequence[Listed]
    #: id of every node but the root -> its place (in the list of the part it belongs to)
    places: dict[int, Place]

    @classmethod
    def of_parts(cls, root: cst.CSTNode, parts: Sequence[Listed]) -> Preorder:
        places: dict[int, Place] = {}
        for part in parts:
            places.update(part.places)
        return cls(root, parts, places)

    def below(self, node: cst.CSTNode) -> list[cst.CSTNode] | None:
        """Every node below ``node`` in source order; None for a node that is not the tree's."""
        if node is self.root:
            return self.nodes[1:]
        place = self.places.get(id(node))
        if place is None:
            return None
        nodes, start, end = place
        return nodes[start + 1:end] if nodes[start] is node else None

    @functools.cached_property
    def nodes(self) -> list[cst.CSTNode]:
        """The whole tree's nodes in source order, the root first (one list: positions in it are
        what :meth:`span` answers)."""
        return [self.root, *(node for part in self.parts for node in part.nodes)]

    @functools.cached_property
    def _offsets(self) -> dict[int, int]:
        """id of each part's list -> the position of its first node in :attr:`nodes`."""
        offsets: dict[int, int] = {}
        at = 1
        for part in self.parts:
            offsets[id(part.nodes)] = at
            at += len(part.nodes)
        return offsets

    def span(self, node: cst.CSTNode) -> tuple[int, int] | None:
        """The range of :attr:`nodes` that ``node``'s subtree fills; None for a node that is not
        the tree's."""
        if node is self.root:
            return 0, len(self.nodes)
        place = self.places.get(id(node))
        if place is None or place[0][place[1]] is not node:
            return None
        nodes, start, end = place
        offset = self._offsets[id(nodes)]
        return start + offset, end + offset


def preorder(root: cst.CSTNode) -> Preorder:
    """``root`` and every node below it in source order, listed by ``root``'s children."""
    return Preorder.of_parts(root, [listed(child) for child in children(root)])
