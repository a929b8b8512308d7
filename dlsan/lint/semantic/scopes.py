"""Scopes and bindings of one file, built in one pass (the model's index).

Every scope of the file is a :class:`Scope`: the module, each class body, function, lambda and
comprehension.  Each scope keeps, for every name it binds, one ordered list of :class:`Binding`
(what kind of binding, the bound value, the statement, the target, the position from which the
binding is visible).  Dotted targets (``self.total = ...``) are bindings of the dotted name, and
an item assignment ``d[k] = v`` is an ``ITEM`` binding of ``d``.

Positions are pre-order numbers of nodes within a *frame*: the nearest enclosing scope that is not
a comprehension (comprehensions run inline, so they share their frame's numbering; their targets
are still bound in the comprehension's own scope, as in Python 3).  A binding is visible to a use
whose position is greater than the binding's: for ``x = f(x)`` that is after the whole statement,
for ``for x in xs:`` after ``xs``, so a use inside the value reads the earlier binding.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import libcst as cst

from dlsan.lint.incremental import same_statement, statement_key
from dlsan.lint.names import dotted_name
from dlsan.lint.walk import children


class ScopeKind(enum.Enum):
    MODULE = "module"
    CLASS = "class"
    FUNCTION = "function"
    LAMBDA = "lambda"
    COMPREHENSION = "comprehension"


class BindingKind(enum.Enum):
    #: ``x = v``, ``x: T = v``, ``a, b = va, vb`` (each name with its own value), ``a = b = v``
    ASSIGNMENT = "assignment"
    #: ``a, b = f()``: the value is the whole right-hand side, ``index`` the target's position
    UNPACKING = "unpacking"
    #: ``x += v``: updates the earlier value
    AUGMENTED = "augmented"
    #: ``d[k] = v`` (and ``d[k] += v``): updates the container ``d``
    ITEM = "item"
    #: ``for x in xs``: the value is the iterable, each element bound in turn
    FOR_TARGET = "for-target"
    #: ``with cm as x``: the value is the context-manager expression
    WITH_TARGET = "with-target"
    #: ``except E as x``
    EXCEPT_TARGET = "except-target"
    #: ``(x := v)``
    NAMED_EXPR = "named-expr"
    IMPORT = "import"
    FUNCTION_DEF = "function-def"
    CLASS_DEF = "class-def"
    PARAMETER = "parameter"
    #: a comprehension's ``for x in xs``: the value is the iterable
    COMPREHENSION_TARGET = "comprehension-target"
    #: ``x: T`` without a value, ``del x``: no value
    DECLARATION = "declaration"


#: kinds whose ``value`` is exactly what the name holds afterwards
PLAIN_KINDS = frozenset({BindingKind.ASSIGNMENT, BindingKind.NAMED_EXPR})
#: kinds that update the value that was there before instead of replacing it
UPDATING_KINDS = frozenset({BindingKind.AUGMENTED, BindingKind.ITEM})
#: kinds whose value is an iterable whose elements the name takes in turn
ELEMENT_KINDS = frozenset({BindingKind.FOR_TARGET, BindingKind.COMPREHENSION_TARGET})


@dataclass(frozen=True, eq=False)
class Binding:
    """One binding of ``name`` (a plain or dotted name) in a scope."""

    name: str
    kind: BindingKind
    #: the bound expression (see :class:`BindingKind`); ``None`` for imports, defs, parameters
    value: cst.BaseExpression | None
    #: the binding statement or node: Assign, For, WithItem, Param, FunctionDef, Import ...
    node: cst.CSTNode
    #: the target node (the Name / Attribute, the subscripted container, the Param)
    target: cst.CSTNode
    #: uses at a greater position (in the binding's frame) see this binding
    position: int
    #: position in a tuple target (``a, b = f()`` binds ``b`` with index 1)
    index: int | None = None

    @property
    def is_plain(self) -> bool:
        """Whether ``value`` is exactly what the name holds after this binding."""
        return self.kind in PLAIN_KINDS and self.value is not None

    @property
    def augmented(self) -> bool:
        return self.kind is BindingKind.AUGMENTED

    @property
    def item(self) -> bool:
        return self.kind is BindingKind.ITEM

    @property
    def element(self) -> bool:
        return self.kind in ELEMENT_KINDS


@dataclass(eq=False)
class Scope:
    """One scope: its bindings, and (for a frame) its nodes, calls, loops and returns in order."""

    kind: ScopeKind
    #: the Module, ClassDef, FunctionDef, Lambda or comprehension node that opens the scope
    node: cst.CSTNode
    parent: Scope | None
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    children: list[Scope] = field(default_factory=list)
    #: names declared ``global`` or ``nonlocal`` here
    declared_outside: set[str] = field(default_factory=set)
    # -- frame data (shared by a frame and the comprehensions inside it) ----------------------
    #: id(node) -> pre-order position, for every node of the frame (nested frames excluded)
    order: dict[int, int] = field(default_factory=dict)
    #: id(node) -> position of its last descendant: a subtree is the range [position, end]
    ends: dict[int, int] = field(default_factory=dict)
    #: the frame's calls in source order (comprehensions included, nested defs/lambdas not)
    calls: list[cst.Call] = field(default_factory=list)
    #: dotted name -> the Name/Attribute nodes that read it, in source order
    reads: dict[str, list[cst.BaseExpression]] = field(default_factory=dict)
    #: loops of the frame, outermost first
    loops: list[cst.For | cst.While] = field(default_factory=list)
    returns: list[cst.Return] = field(default_factory=list)
    #: the frame's nodes in source order (nested frames' insides excluded)
    nodes: list[cst.CSTNode] = field(default_factory=list)
    #: the nearest scope that is not a comprehension (this one, usually): set once, as it is asked
    #: for every position; a scope whose parent changes (a reused ``def``, see :class:`ScopeReuse`)
    #: is never a comprehension, so it stays its own frame
    frame: Scope = field(init=False, repr=False)

    def __post_init__(self) -> None:
        parent = self.parent
        self.frame = parent.frame if self.kind is ScopeKind.COMPREHENSION and parent is not None else self

    @property
    def name(self) -> str | None:
        node = self.node
        return node.name.value if isinstance(node, (cst.FunctionDef, cst.ClassDef)) else None

    def position(self, node: cst.CSTNode) -> int:
        return self.frame.order.get(id(node), -1)

    def contains(self, outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
        """Whether ``inner`` lies in ``outer``'s subtree (both in this frame)."""
        frame = self.frame
        start, at = frame.order.get(id(outer), -1), frame.order.get(id(inner), -1)
        return start >= 0 and start <= at <= frame.ends.get(id(outer), -1)

    def calls_within(self, outer: cst.CSTNode) -> list[cst.Call]:
        return [call for call in self.frame.calls if self.contains(outer, call)]

    def bindings_of(self, name: str) -> list[Binding]:
        return self.bindings.get(name, [])

    def binds(self, name: str) -> bool:
        return name in self.bindings


_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_SCOPE_NODES = (cst.FunctionDef, cst.ClassDef, cst.Lambda, *_COMPREHENSIONS)
#: the same, as exact types (the parser builds no subclasses of them), to test cheaply
_SCOPE_NODE_TYPES = frozenset(_SCOPE_NODES)


def target_names(target: cst.BaseExpression, *, attributes: bool = False) -> list[str]:
    """The names an assignment target binds (``a, (b, *c) = ...`` -> ``a, b, c``); with
    ``attributes``, ``self.x`` / ``obj.y.z`` targets count too, by their last part."""
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [name for element in target.elements for name in target_names(element.value, attributes=attributes)]
    if isinstance(target, cst.StarredElement):
        return target_names(target.value, attributes=attributes)
    if attributes and isinstance(target, cst.Attribute):
        name = dotted_name(target)
        return [name.rsplit(".", 1)[-1]] if name else []
    return []


@dataclass
class FileScopes:
    """Every scope of a file, and where each node lives."""

    root: Scope
    #: id(node) -> the innermost scope the node belongs to (a def/class/lambda/comprehension
    #: node belongs to the scope around it; what is inside it, to its own scope)
    scope_by_node: dict[int, Scope]
    #: id(scope-opening node) -> the scope it opens
    scope_by_opener: dict[int, Scope]
    #: id(node) -> parent node
    parents: dict[int, cst.CSTNode]
    #: every import statement of the file, at any depth, in source order
    imports: list[cst.Import | cst.ImportFrom]


def build_scopes(module: cst.Module, reuse: ScopeReuse | None = None) -> FileScopes:
    """One pass over ``module``: scopes, bindings, positions, parents (``reuse``: see
    :class:`ScopeReuse`)."""
    return _Builder(module, reuse).build()


@dataclass(frozen=True)
class _Part:
    """What one top-level ``def`` or ``class`` statement contributes to its file's scopes, apart
    from its own place in the module's frame: the scope it opens (with every scope inside it) and
    the entries of the file's tables for the nodes below it."""

    statement: cst.FunctionDef | cst.ClassDef
    inner: Scope
    #: the tables' entries for the nodes below the statement's children (whose parent is the
    #: statement, set each time: the statement may be a copy, see :meth:`ScopeReuse._get`)
    scope_by_node: dict[int, Scope]
    scope_by_opener: dict[int, Scope]
    parents: dict[int, cst.CSTNode]
    #: the import statements below the statement, in source order
    imports: list[cst.Import | cst.ImportFrom]


class ScopeReuse:
    """The scopes of the top-level ``def`` and ``class`` statements of a document's last version,
    for the next version's model (the language server's path, where an edit leaves all but one or
    two statements the very same node objects).

    Sound because everything below such a statement is computed from its own subtree alone: the
    scopes inside it, their bindings (a ``global``/``nonlocal`` name stays bound in the scope that
    assigns it, declared there), the pre-order numbers of its frames, the calls, reads, loops and
    returns, the parents of its nodes.  What the statement gives the module's frame (its number,
    its name's binding) is recomputed every time.  A statement is recognised by the identity of
    its fields, and the part holds it, so the ids of its nodes cannot be reused by other objects."""

    def __init__(self) -> None:
        #: id of every field of a statement but its leading lines -> its part
        self._parts: dict[tuple[int, ...], _Part] = {}

    def _get(self, statement: cst.FunctionDef | cst.ClassDef) -> _Part | None:
        """The part of ``statement`` in the last version: the same node, or the copy of it the
        incremental parser made to move the comments after the statement before it onto it
        (:func:`~dlsan.lint.incremental.same_statement`)."""
        part = self._parts.get(statement_key(statement))
        return part if part is not None and same_statement(part.statement, statement) else None

    def _keep(self, parts: list[_Part]) -> None:
        """Keep only the parts of the latest version (what the next version may reuse)."""
        self._parts = {statement_key(part.statement): part for part in parts}


class _Builder:
    def __init__(self, module: cst.Module, reuse: ScopeReuse | None = None) -> None:
        self.module = module
        self.reuse = reuse
        self.root = Scope(ScopeKind.MODULE, module, None)
        self.scope_by_node: dict[int, Scope] = {}
        self.scope_by_opener: dict[int, Scope] = {id(module): self.root}
        self.parents: dict[int, cst.CSTNode] = {}
        #: ids of target nodes (not reads)
        self.targets: set[int] = set()
        #: bindings whose position is the end of some node, resolved when that node is left
        self.pending: dict[int, list[tuple[Scope, Binding]]] = {}
        self.imports: list[cst.Import | cst.ImportFrom] = []

    def build(self) -> FileScopes:
        statements = children(self.module)
        for statement in statements:
            self.parents[id(statement)] = self.module
        if self.reuse is None:
            for statement in statements:
                self._walk(statement, self.root)
        else:
            parts: list[_Part] = []
            for statement in statements:
                if type(statement) is cst.FunctionDef or type(statement) is cst.ClassDef:
                    parts.append(self._definition(statement))
                else:
                    self._walk(statement, self.root)
            self.reuse._keep(parts)
        return FileScopes(self.root, self.scope_by_node, self.scope_by_opener, self.parents, self.imports)

    def _walk(self, top: cst.CSTNode, scope: Scope) -> None:
        """Number, record and bind ``top`` and its subtree, ``top`` in ``scope``."""
        # explicit stack of (node, scope, leaving); a scope node is numbered in the scope around it
        # and its children are walked in the scope it opens
        stack: list[tuple[cst.CSTNode, Scope, bool]] = [(top, scope, False)]
        while stack:
            node, scope, leaving = stack.pop()
            frame = scope.frame
            if leaving:
                self._leave(node, frame)
                continue
            inner = self._enter(node, scope, frame)
            stack.append((node, scope, True))
            for child in reversed(children(node)):
                self.parents[id(child)] = node
                stack.append((child, inner, False))

    def _enter(self, node: cst.CSTNode, scope: Scope, frame: Scope) -> Scope:
        frame.order[id(node)] = len(frame.order)
        frame.nodes.append(node)
        self.scope_by_node[id(node)] = scope
        inner = self._open(node, scope)
        self._record(node, scope, inner)
        return inner

    def _leave(self, node: cst.CSTNode, frame: Scope) -> None:
        frame.ends[id(node)] = len(frame.order) - 1
        for owner, binding in self.pending.pop(id(node), ()):
            self._add(owner, _at(binding, frame.ends[id(node)]))

    def _definition(self, statement: cst.FunctionDef | cst.ClassDef) -> _Part:
        """A top-level ``def``/``class``: its place in the module's frame, and its part of the
        tables, taken from the last version when the statement is the same node."""
        assert self.reuse is not None
        part = self.reuse._get(statement)
        root = self.root
        if part is None:
            tables = self.scope_by_node, self.scope_by_opener, self.parents, self.imports
            self.scope_by_node, self.scope_by_opener, self.parents, self.imports = {}, {}, {}, []
            inner = self._enter(statement, root, root)
            for child in children(statement):
                self._walk(child, inner)
            del self.scope_by_node[id(statement)]  # the statement's own entry: the module's, below
            del self.scope_by_opener[id(statement)]
            part = _Part(statement, inner, self.scope_by_node, self.scope_by_opener, self.parents, self.imports)
            self.scope_by_node, self.scope_by_opener, self.parents, self.imports = tables
        else:
            part = _Part(statement, part.inner, part.scope_by_node, part.scope_by_opener, part.parents, part.imports)
            part.inner.node = statement
            part.inner.parent = root
            root.children.append(part.inner)
            root.order[id(statement)] = len(root.order)
            root.nodes.append(statement)
            self._record(statement, root, part.inner)
        self.scope_by_node.update(part.scope_by_node)
        self.scope_by_opener.update(part.scope_by_opener)
        self.parents.update(part.parents)
        self.imports.extend(part.imports)
        self.scope_by_node[id(statement)] = root
        self.scope_by_opener[id(statement)] = part.inner
        for child in children(statement):
            self.parents[id(child)] = statement
        self._leave(statement, root)
        return part

    # -- scopes ----------------------------------------------------------------------------------

    def _open(self, node: cst.CSTNode, scope: Scope) -> Scope:
        """The scope ``node``'s children belong to."""
        if type(node) not in _SCOPE_NODE_TYPES:
            return scope
        if isinstance(node, cst.FunctionDef):
            kind = ScopeKind.FUNCTION
        elif isinstance(node, cst.ClassDef):
            kind = ScopeKind.CLASS
        elif isinstance(node, cst.Lambda):
            kind = ScopeKind.LAMBDA
        else:
            kind = ScopeKind.COMPREHENSION
        inner = Scope(kind, node, scope)
        scope.children.append(inner)
        self.scope_by_opener[id(node)] = inner
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            for param in _parameters(node.params):
                self._add(inner, Binding(param.name.value, BindingKind.PARAMETER, None, param, param, -1))
                self.targets.add(id(param.name))
        return inner

    # -- bindings --------------------------------------------------------------------------------

    def _add(self, scope: Scope, binding: Binding) -> None:
        scope.bindings.setdefault(binding.name, []).append(binding)

    def _after(self, node: cst.CSTNode, scope: Scope, binding: Binding) -> None:
        """Make ``binding`` visible once ``node`` has been evaluated."""
        self.pending.setdefault(id(node), []).append((scope, binding))

    def _record(self, node: cst.CSTNode, scope: Scope, inner: Scope) -> None:
        # dispatched on the exact type: libcst's node classes are ABCs, and ``isinstance`` against
        # an ABC, asked a dozen times for every node of the file, was a tenth of a lint
        node_type = type(node)
        record = _RECORDERS.get(node_type)
        if record is not None:
            record(self, node, scope)
        if (node_type is cst.Name or node_type is cst.Attribute) and id(node) not in self.targets:
            read = cast("cst.Name | cst.Attribute", node)
            name = dotted_name(read)
            if name is not None:
                scope.frame.reads.setdefault(name, []).append(read)

    def _record_comprehension(self, node: cst.CompFor, scope: Scope) -> None:
        self._bind_comprehension(scope, node)

    def _record_call(self, node: cst.Call, scope: Scope) -> None:
        scope.frame.calls.append(node)

    def _record_definition(self, node: cst.FunctionDef | cst.ClassDef, scope: Scope) -> None:
        kind = BindingKind.FUNCTION_DEF if isinstance(node, cst.FunctionDef) else BindingKind.CLASS_DEF
        self._add(scope, Binding(node.name.value, kind, None, node, node.name, scope.frame.order[id(node)]))
        self.targets.add(id(node.name))

    def _record_assign(self, node: cst.Assign, scope: Scope) -> None:
        for target in node.targets:
            self._bind_target(scope, node, target.target, node.value, parallel=True)

    def _record_ann_assign(self, node: cst.AnnAssign, scope: Scope) -> None:
        if node.value is not None:
            self._bind_target(scope, node, node.target, node.value, parallel=False)
        else:
            self._bind_target(scope, node, node.target, None, parallel=False, kind=BindingKind.DECLARATION)

    def _record_aug_assign(self, node: cst.AugAssign, scope: Scope) -> None:
        self._bind_target(scope, node, node.target, node.value, parallel=False, kind=BindingKind.AUGMENTED)

    def _record_named_expr(self, node: cst.NamedExpr, scope: Scope) -> None:
        self._bind_target(scope, node, node.target, node.value, parallel=False, kind=BindingKind.NAMED_EXPR)

    def _record_for(self, node: cst.For, scope: Scope) -> None:
        scope.frame.loops.append(node)
        self._bind_target(scope, node, node.target, node.iter, parallel=False, kind=BindingKind.FOR_TARGET,
                          visible_after=node.iter)

    def _record_while(self, node: cst.While, scope: Scope) -> None:
        scope.frame.loops.append(node)

    def _record_with_item(self, node: cst.WithItem, scope: Scope) -> None:
        if node.asname is not None:
            self._bind_target(scope, node, node.asname.name, node.item, parallel=False,
                              kind=BindingKind.WITH_TARGET, visible_after=node.item)

    def _record_except_handler(self, node: cst.ExceptHandler, scope: Scope) -> None:
        if node.name is not None:
            self._bind_target(scope, node, node.name.name, None, parallel=False, kind=BindingKind.EXCEPT_TARGET,
                              visible_after=None)

    def _record_import(self, node: cst.Import | cst.ImportFrom, scope: Scope) -> None:
        self.imports.append(node)
        self._bind_import(scope, node, scope.frame.order[id(node)])

    def _record_return(self, node: cst.Return, scope: Scope) -> None:
        scope.frame.returns.append(node)

    def _record_declaration(self, node: cst.Global | cst.Nonlocal, scope: Scope) -> None:
        scope.declared_outside |= {item.name.value for item in node.names}

    def _record_del(self, node: cst.Del, scope: Scope) -> None:
        self._bind_target(scope, node, node.target, None, parallel=False, kind=BindingKind.DECLARATION)

    def _bind_target(self, scope: Scope, statement: cst.CSTNode, target: cst.BaseExpression,
                     value: cst.BaseExpression | None, *, parallel: bool,
                     kind: BindingKind = BindingKind.ASSIGNMENT,
                     visible_after: cst.CSTNode | None | bool = True) -> None:
        anchor = statement if visible_after is True else visible_after
        for name_node, element_value, index, item in _target_parts(target, value, parallel):
            name = dotted_name(name_node)
            if name is None:
                continue
            if not item:
                self.targets.add(id(name_node))
            this_kind = kind
            if item:
                this_kind = BindingKind.ITEM
            elif index is not None and kind is BindingKind.ASSIGNMENT:
                this_kind = BindingKind.UNPACKING
            binding = Binding(name, this_kind, element_value, statement, name_node, -1, index)
            if anchor is None or anchor is False:
                self._add(scope, _at(binding, scope.frame.order[id(statement)]))
            else:
                self._after(anchor, scope, binding)

    def _bind_comprehension(self, scope: Scope, node: cst.CompFor) -> None:
        for name_node, _, index, item in _target_parts(node.target, node.iter, False):
            name = dotted_name(name_node)
            if name is None or item:
                continue
            self.targets.add(id(name_node))
            self._add(scope, Binding(name, BindingKind.COMPREHENSION_TARGET, node.iter, node, name_node, -1, index))

    def _bind_import(self, scope: Scope, node: cst.Import | cst.ImportFrom, position: int) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            local: cst.BaseExpression
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name
                name = alias.asname.name.value
            else:
                local = alias.name
                name = (dotted_name(alias.name) or "").split(".")[0]
            self._add(scope, Binding(name, BindingKind.IMPORT, None, node, local, position))
            self.targets.add(id(local))
            if isinstance(alias.name, (cst.Name, cst.Attribute)):
                self.targets.add(id(alias.name))


def _at(binding: Binding, position: int) -> Binding:
    return Binding(binding.name, binding.kind, binding.value, binding.node, binding.target, position, binding.index)


def _parameters(params: cst.Parameters) -> list[cst.Param]:
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            every.append(star)
    return every


def _target_parts(target: cst.BaseExpression, value: cst.BaseExpression | None,
                  parallel: bool) -> list[tuple[cst.BaseExpression, cst.BaseExpression | None, int | None, bool]]:
    """``(name node, its value, tuple index, is an item assignment)`` for each part of ``target``.

    With ``parallel``, ``a, b = va, vb`` gives each name its own value."""
    if isinstance(target, (cst.Tuple, cst.List)):
        elements = target.elements
        values: list[cst.BaseExpression | None] | None = None
        if (parallel and isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elements)
                and not any(isinstance(e, cst.StarredElement) for e in (*elements, *value.elements))):
            values = [e.value for e in value.elements]
        found = []
        for i, element in enumerate(elements):
            inner = element.value.value if isinstance(element.value, cst.StarredElement) else element.value
            if values is not None:
                found.extend(_target_parts(inner, values[i], parallel))
            else:
                found.extend((node, value, i, item) for node, _, _, item in _target_parts(inner, None, False))
        return found
    if isinstance(target, cst.StarredElement):
        return _target_parts(target.value, value, parallel)
    item = False
    while isinstance(target, cst.Subscript):
        target, item = target.value, True
    if isinstance(target, (cst.Name, cst.Attribute)):
        return [(target, value, None, item)]
    return []


#: what :meth:`_Builder._record` does for a node, by its exact type
_RECORDERS: dict[type[cst.CSTNode], Callable[[_Builder, Any, Scope], None]] = {
    cst.Call: _Builder._record_call,
    cst.FunctionDef: _Builder._record_definition,
    cst.ClassDef: _Builder._record_definition,
    cst.Assign: _Builder._record_assign,
    cst.AnnAssign: _Builder._record_ann_assign,
    cst.AugAssign: _Builder._record_aug_assign,
    cst.NamedExpr: _Builder._record_named_expr,
    cst.For: _Builder._record_for,
    cst.While: _Builder._record_while,
    cst.CompFor: _Builder._record_comprehension,
    cst.WithItem: _Builder._record_with_item,
    cst.ExceptHandler: _Builder._record_except_handler,
    cst.Import: _Builder._record_import,
    cst.ImportFrom: _Builder._record_import,
    cst.Return: _Builder._record_return,
    cst.Global: _Builder._record_declaration,
    cst.Nonlocal: _Builder._record_declaration,
    cst.Del: _Builder._record_del,
}
