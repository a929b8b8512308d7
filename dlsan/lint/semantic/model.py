"""The per-file semantic model: every rule's one answer to "which binding is this name".

:class:`SemanticModel` is built once per file, on first use (``context.semantic``), from one pass
over the module (:mod:`.scopes`).  Rules and analyses ask it:

* where a node lives: :meth:`~SemanticModel.scope_of`, :meth:`~SemanticModel.frame_of`,
  :meth:`~SemanticModel.parent`, :meth:`~SemanticModel.ancestors`;
* which bindings may give a name its value at a use: :meth:`~SemanticModel.reaching` (reaching
  definitions; a use in a loop also sees the bindings later in the loop body, through the back
  edge, unless the loop rebinds the name before the use on every iteration);
* which single value a name holds at a use, when one plain assignment says so:
  :meth:`~SemanticModel.value_at` (``None`` when in doubt);
* which names an expression reads: :func:`names_read`, :func:`root_names_read`.

Free names follow Python's rules: a function's name that it does not bind is looked up in the
enclosing functions and then the module (class bodies are skipped); a name used in a lambda or a
comprehension sees the enclosing function's bindings as they are where the lambda is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from dlsan.lint.names import dotted_name
from dlsan.lint.semantic.scopes import (
    UPDATING_KINDS,
    Binding,
    BindingKind,
    FileScopes,
    Scope,
    ScopeKind,
    ScopeReuse,
    build_scopes,
)
from dlsan.lint.walk import children

#: nodes whose body may run fewer times than the code around them (or not at all)
CONDITIONAL = (cst.If, cst.IfExp, cst.For, cst.While, cst.Try, cst.ExceptHandler, cst.Match)
# the same and the other node kinds asked below, as exact types (the parser builds no subclasses of
# them): these tests run on every ancestor of a node, and libcst's classes are ABCs, slow to ask
_CONDITIONAL_TYPES = frozenset(CONDITIONAL)
_LOOP_TYPES = frozenset({cst.For, cst.While})
_FRAME_TYPES = frozenset({cst.FunctionDef, cst.Lambda, cst.ClassDef})
_FRAME_OR_MODULE_TYPES = _FRAME_TYPES | {cst.Module}


@dataclass(frozen=True)
class Located:
    """An expression and the scope whose names it reads."""

    expr: cst.BaseExpression
    scope: Scope


class SemanticModel:
    """Scopes, bindings and name resolution for one module (see the module docstring)."""

    def __init__(self, module: cst.Module, reuse: ScopeReuse | None = None) -> None:
        self.module = module
        self._scopes: FileScopes = build_scopes(module, reuse)
        self.root: Scope = self._scopes.root

    # -- where does a node live --------------------------------------------------------------

    @property
    def imports(self) -> list[cst.Import | cst.ImportFrom]:
        """Every import statement of the file, at any depth, in source order."""
        return self._scopes.imports

    def contains(self, node: cst.CSTNode) -> bool:
        """Whether ``node`` is a node of this file's tree (not one built by a rule)."""
        return id(node) in self._scopes.scope_by_node

    def scope_of(self, node: cst.CSTNode) -> Scope:
        """The innermost scope ``node`` belongs to (a ``def`` belongs to the scope around it)."""
        return self._scopes.scope_by_node.get(id(node), self.root)

    def frame_of(self, node: cst.CSTNode) -> Scope:
        """The function, lambda, class or module whose numbering ``node`` is in."""
        return self.scope_of(node).frame

    def scope_for(self, opener: cst.CSTNode) -> Scope:
        """The scope a Module/FunctionDef/ClassDef/Lambda/comprehension node opens."""
        return self._scopes.scope_by_opener[id(opener)]

    def function_of(self, node: cst.CSTNode) -> Scope:
        """The function (or, outside any, the module) ``node`` runs in: lambdas and
        comprehensions inside a function belong to it; class bodies to the module."""
        scope = self.scope_of(node)
        while scope.kind in (ScopeKind.LAMBDA, ScopeKind.COMPREHENSION, ScopeKind.CLASS) and scope.parent:
            scope = scope.parent
        return scope

    def walk_function(self, ancestors: list[cst.CSTNode]) -> Scope:
        """The function whose code the walk is in, given its chain of enclosing nodes (outermost
        first): the innermost ``def``, or the module for code in a lambda or a class body."""
        for node in reversed(ancestors):
            node_type = type(node)
            if node_type is cst.FunctionDef:
                return self.scope_for(node)
            if node_type is cst.Lambda or node_type is cst.ClassDef:
                break
        return self.root

    def binding_function(self, ancestors: list[cst.CSTNode]) -> Scope:
        """The innermost ``def`` around the walk position (lambdas belong to it), else the module."""
        for node in reversed(ancestors):
            if type(node) is cst.FunctionDef:  # exact type: asked for nearly every node, and cheaper
                return self.scope_for(node)
        return self.root

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self._scopes.parents.get(id(node))

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        """Enclosing nodes of ``node``, innermost first."""
        parents = self._scopes.parents
        current = parents.get(id(node))
        while current is not None:
            yield current
            current = parents.get(id(current))

    def enclosing(self, node: cst.CSTNode, *types: type[cst.CSTNode]) -> cst.CSTNode | None:
        return next((a for a in self.ancestors(node) if isinstance(a, types)), None)

    def runs_whenever(self, node: cst.CSTNode, outer: cst.CSTNode | None) -> bool:
        """Whether ``node`` runs every time its ancestor ``outer`` (``None``: the module) does:
        no branch, loop or ``try`` lies between them."""
        for ancestor in self.ancestors(node):
            if ancestor is outer:
                return True
            if type(ancestor) in _CONDITIONAL_TYPES:
                return False
        return True

    def loops_around(self, node: cst.CSTNode) -> list[cst.For | cst.While]:
        """Loops around ``node`` within its own function, innermost first."""
        found: list[cst.For | cst.While] = []
        for ancestor in self.ancestors(node):
            ancestor_type = type(ancestor)
            if ancestor_type in _FRAME_TYPES:
                break
            if ancestor_type in _LOOP_TYPES:
                found.append(ancestor)  # type: ignore[arg-type]  # a For or a While
        return found

    # -- which bindings ----------------------------------------------------------------------

    def resolving_scope(self, name: str, at: cst.CSTNode) -> tuple[Scope, cst.CSTNode] | None:
        """The scope whose bindings ``name`` read at ``at`` refers to, and the node whose position
        in that scope stands for the use (the use itself, or the lambda/def it is inside)."""
        scope = self.scope_of(at)
        use: cst.CSTNode = at
        head = name.split(".", 1)[0]
        while scope is not None:
            bindings = scope.bindings  # Scope.binds, inlined: asked for every scope up from every use
            if name in bindings or (head != name and head in bindings):
                return scope, use
            if head in scope.declared_outside:
                return (self.root, use) if self.root.binds(name) else None
            if scope.kind is not ScopeKind.COMPREHENSION:
                use = scope.node
            parent = scope.parent
            # class bodies are not enclosing scopes for the functions inside them
            while parent is not None and parent.kind is ScopeKind.CLASS and scope.kind is not ScopeKind.COMPREHENSION:
                use = parent.node
                parent = parent.parent
            scope = parent  # type: ignore[assignment]
        return None

    def reaching(self, name: str, at: cst.CSTNode) -> list[Binding]:
        """The bindings of ``name`` (plain or dotted) that may give it its value at ``at``."""
        found = self.resolving_scope(name, at)
        if found is None:
            return []
        scope, use = found
        bindings = scope.bindings_of(name)
        if not bindings:
            return []
        if _in_closure(use, at):
            return list(bindings)  # a closure sees whatever the enclosing scope holds when it runs
        return self._reaching_in(scope, bindings, use, definite=False)

    def closure_scope(self, name: str, at: cst.CSTNode) -> Scope | None:
        """The scope of which :meth:`reaching` answers every binding of ``name`` (plain) read at
        ``at``, as ``at`` is in a function nested in it (the same answer for every such read,
        wherever it is); ``None`` when the read's position in its scope decides."""
        found = self.resolving_scope(name, at)
        if found is None or not _in_closure(found[1], at) or not found[0].bindings_of(name):
            return None
        return found[0]

    def value_at(self, name: cst.Name | cst.Attribute) -> Located | None:
        """The value ``name`` holds where it is read, when one plain assignment decides it: the
        last binding before the use (no later one in a loop around it), of a plain kind.  A
        module-level name read in a function must be bound once in the module."""
        dotted = dotted_name(name)
        if dotted is None:
            return None
        found = self.resolving_scope(dotted, name)
        if found is None:
            return None
        scope, use = found
        bindings = scope.bindings_of(dotted)
        if type(use) is cst.FunctionDef or (scope is self.root and self.frame_of(name) is not self.root):
            if len(bindings) == 1 and bindings[0].is_plain:
                return Located(bindings[0].value, scope)  # type: ignore[arg-type]
            return None
        reaching = self._reaching_in(scope, bindings, use, definite=True)
        if len(reaching) != 1 or not reaching[0].is_plain:
            return None
        return Located(reaching[0].value, scope)  # type: ignore[arg-type]

    def plain_value(self, expr: cst.BaseExpression) -> Located | None:
        """:meth:`value_at` for a Name or dotted Attribute; ``None`` for anything else."""
        if isinstance(expr, (cst.Name, cst.Attribute)):
            return self.value_at(expr)
        return None

    def _reaching_in(self, scope: Scope, bindings: list[Binding], use: cst.CSTNode, *,
                     definite: bool) -> list[Binding]:
        """Reaching definitions of one name in ``scope`` at ``use``.  With ``definite``, a binding
        in a branch counts as having run (the single-value question)."""
        position = scope.position(use)
        before = [b for b in bindings if b.position < position]
        reaching: list[Binding] = []
        if before:
            reaching.append(before[-1])
            # `x += v` and `d[k] = v` update the earlier value rather than replace it; a binding in
            # a branch that does not contain the use may not have run
            for earlier in reversed(before[:-1]):
                last = reaching[-1]
                if not (last.kind in UPDATING_KINDS or (not definite and self._guarded(last.node, use))):
                    break
                reaching.append(earlier)
        # the back edge: bindings later in an enclosing loop reach the use on the next iteration,
        # unless the loop binds the name before the use on every iteration
        loops = self._loops_containing(scope, use)
        if not loops:
            return reaching
        latest = before[-1] if before else None
        order, ends = scope.frame.order, scope.frame.ends
        for loop in loops:
            # Scope.contains(loop, node), with the loop's range looked up once
            start, end = order.get(id(loop), -1), ends.get(id(loop), -1)
            if (latest is not None and 0 <= start <= order.get(id(latest.node), -1) <= end
                    and latest.kind not in UPDATING_KINDS and self.runs_whenever(latest.node, loop)):
                break
            reaching.extend(b for b in bindings if b.position >= position and 0 <= start <= order.get(id(b.node), -1) <= end
                            and b not in reaching)
        return reaching

    def _guarded(self, statement: cst.CSTNode, use: cst.CSTNode) -> bool:
        """Whether ``statement`` sits in a branch or loop body that does not contain ``use``."""
        for ancestor in self.ancestors(statement):
            ancestor_type = type(ancestor)
            if ancestor_type in _FRAME_OR_MODULE_TYPES:
                return False
            if ancestor_type in _CONDITIONAL_TYPES and not _is_ancestor(self, ancestor, use):
                return True
        return False


    def _loops_containing(self, scope: Scope, node: cst.CSTNode) -> list[cst.For | cst.While]:
        """Loops of ``scope``'s frame around ``node`` (a node of that frame), innermost first:
        its loop ancestors below the frame's opener (every ancestor of a node of a frame, up to
        the opener, is of that frame; asking each loop of the frame was quadratic in a module
        with many loops)."""
        frame = scope.frame
        if id(node) not in frame.order:
            return []
        found: list[cst.For | cst.While] = []
        opener = frame.node
        parents = self._scopes.parents
        ancestor = parents.get(id(node))
        while ancestor is not None and ancestor is not opener:
            if type(ancestor) is cst.For or type(ancestor) is cst.While:  # exact types: libcst's classes are slow ABCs
                found.append(ancestor)
            ancestor = parents.get(id(ancestor))
        return found


def _in_closure(use: cst.CSTNode, at: cst.CSTNode) -> bool:
    """Whether the node standing for a read at ``at`` in the scope that binds the name (see
    :meth:`SemanticModel.resolving_scope`) is a function the read is nested in."""
    return use is not at and type(use) is cst.FunctionDef


def _is_ancestor(model: SemanticModel, outer: cst.CSTNode, node: cst.CSTNode) -> bool:
    return any(a is outer for a in model.ancestors(node))


def names_read(node: cst.CSTNode | None) -> list[str]:
    """Dotted names read anywhere in ``node`` (``a.b`` gives ``a.b`` and ``a``), nested scopes
    left out."""
    if node is None:
        return []
    found = []
    for item in _own_nodes(node):
        if type(item) is cst.Name or type(item) is cst.Attribute:
            name = dotted_name(item)
            if name is not None:
                found.append(name)
    return found


def root_names_read(node: cst.CSTNode | None) -> set[str]:
    """Plain names read anywhere in ``node`` (``df.values[:, 1]`` gives ``df``)."""
    if node is None:
        return set()
    return {item.value for item in _own_nodes(node) if type(item) is cst.Name}


def _own_nodes(root: cst.CSTNode) -> Iterator[cst.CSTNode]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if node is root or type(node) not in _FRAME_TYPES:
            stack.extend(reversed(children(node)))


__all__ = ["CONDITIONAL", "Binding", "BindingKind", "Located", "Scope", "ScopeKind", "SemanticModel",
           "names_read", "root_names_read"]
