"""Dotted names, and the table of what a file's imports bind.

libcst's QualifiedNameProvider builds full scope analysis and costs about ten times a parse.  Rules
only need to know what a dotted expression such as ``O.Adam`` or ``F.cross_entropy`` refers to, so
an :class:`ImportTable` reads import statements and simple aliases instead:

    from torch import optim as O      ->  O.Adam            resolves to  torch.optim.Adam
    import torch.nn.functional as F   ->  F.cross_entropy   resolves to  torch.nn.functional.cross_entropy
    Opt = torch.optim.Adam            ->  Opt               resolves to  torch.optim.Adam

Resolved names are canonical (:func:`dlsan.lint.catalog.canonical`: ``torch.nn.modules.loss.MSELoss``
is ``torch.nn.MSELoss``).  Names it cannot resolve give ``None``: rules stay quiet when they cannot tell.  Star imports are
remembered, and :meth:`ImportTable.matches` tries an unbound name against each of them.

The table is file-wide: it cannot tell where a name is used.  Rules ask
:class:`dlsan.lint.semantic.qualified.SiteNames` (``context.names``) instead, which reads the
bindings that reach the use and asks a table only for one import statement at a time, for a
module's top level (what another project file exports), or for a node that is not in the file.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

import libcst as cst

from dlsan.lint.catalog.names import canonical

if TYPE_CHECKING:
    from typing import TypeGuard


def is_self_member(expr: object) -> TypeGuard[cst.Attribute]:
    """Whether ``expr`` is ``self.<name>`` (exact types: asked of every call, and libcst's classes
    are slow-to-ask ABCs; the parser builds no subclasses of them)."""
    return type(expr) is cst.Attribute and type(expr.value) is cst.Name and expr.value.value == "self"


def dotted_name(node: cst.BaseExpression | None) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else ``None`` (calls, subscripts, ...)."""
    # exact types, not isinstance: libcst's classes are ABCs, slow to ask, and this is asked for
    # most nodes of a file; the parser builds no subclasses of them
    if type(node) is cst.Name:
        return node.value
    parts: list[str] = []
    while type(node) is cst.Attribute:
        parts.append(node.attr.value)
        node = node.value
    if type(node) is cst.Name:
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


#: what ``d2l = sys.modules[__name__]`` binds ``d2l`` to: the file's own module
OWN_MODULE = "__own_module__"


def is_own_module(node: cst.BaseExpression) -> bool:
    """``sys.modules[__name__]``."""
    if not (isinstance(node, cst.Subscript) and dotted_name(node.value) == "sys.modules" and len(node.slice) == 1):
        return False
    index = node.slice[0].slice
    return isinstance(index, cst.Index) and isinstance(index.value, cst.Name) and index.value.value == "__name__"


def _module_path(node: cst.BaseExpression | None) -> str | None:
    return dotted_name(node) if node is not None else None


class ImportTable:
    """Maps local names to fully qualified names, from import statements and aliases."""

    def __init__(self) -> None:
        self._bindings: dict[str, str] = {}
        self._star_modules: list[str] = []

    @classmethod
    def for_module(cls, module: cst.Module) -> ImportTable:
        """Read the imports and aliases of ``module``'s top level (including if/try blocks)."""
        resolver = cls()
        resolver.add_statements(module.body)
        return resolver

    def add_statements(self, statements: Iterable[cst.CSTNode]) -> None:
        for statement in statements:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if isinstance(small, (cst.Import, cst.ImportFrom)):
                        self.add_import(small)
                    elif isinstance(small, cst.Assign):
                        self._add_alias(small)
            elif isinstance(statement, (cst.If, cst.Try)):
                self.add_statements(statement.body.body)
                orelse = getattr(statement, "orelse", None)
                if isinstance(orelse, (cst.If, cst.Else)):
                    self.add_statements([orelse] if isinstance(orelse, cst.If) else orelse.body.body)
                for handler in getattr(statement, "handlers", ()):
                    self.add_statements(handler.body.body)

    def add_import(self, node: cst.Import | cst.ImportFrom) -> None:
        """Record one import statement."""
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = _module_path(alias.name)
                if full is None:
                    continue
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self._bindings[alias.asname.name.value] = full
                else:
                    head = full.split(".", 1)[0]
                    self._bindings[head] = head
            return
        module = _module_path(node.module) if node.module is not None else ""
        if module is None:
            return
        if node.relative:
            # the project's own modules: ``from .model import Net`` resolves to ``.model.Net``
            module = "." * len(node.relative) + module
        if isinstance(node.names, cst.ImportStar):
            self._star_modules.append(module)
            return
        for alias in node.names:
            name = _module_path(alias.name)
            if name is None:
                continue
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self._bindings[local] = f"{module}.{name}" if not module.endswith(".") else f"{module}{name}"

    def _add_alias(self, node: cst.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        target = node.targets[0].target.value
        if is_own_module(node.value):
            self._bindings[target] = OWN_MODULE
            return
        resolved = self.resolve(node.value)
        if resolved is not None and target not in self._bindings:
            self._bindings[target] = resolved

    def imported(self) -> frozenset[str]:
        """Every qualified name the file imports or aliases (and each star-imported module)."""
        return frozenset([*self._bindings.values(), *self._star_modules])

    def star_modules(self) -> tuple[str, ...]:
        """The modules this file star-imports (``from .clip import *`` gives ``.clip``)."""
        return tuple(self._star_modules)

    def resolve(self, node: cst.BaseExpression | None) -> str | None:
        """The qualified name ``node`` refers to, or ``None`` when it cannot be known."""
        dotted = dotted_name(node)
        return None if dotted is None else self.resolve_dotted(dotted)

    def resolve_dotted(self, dotted: str) -> str | None:
        """:meth:`resolve` of a name already spelled out (``nn.functional``, ``F``): no node to build."""
        head, _, rest = dotted.partition(".")
        bound = self._bindings.get(head)
        if bound is None:
            return None
        return canonical(f"{bound}.{rest}" if rest else bound)

    def candidates(self, node: cst.BaseExpression | None) -> list[str]:
        """Every qualified name ``node`` may refer to (one, or one per star import)."""
        dotted = dotted_name(node)
        if dotted is None:
            return []
        head, _, rest = dotted.partition(".")
        bound = self._bindings.get(head)
        if bound is not None:
            return [canonical(f"{bound}.{rest}" if rest else bound)]
        return [canonical(f"{module}.{dotted}") for module in self._star_modules]

    def matches(self, node: cst.BaseExpression | None, targets: Collection[str]) -> bool:
        """Whether ``node`` refers to one of the qualified names in ``targets``."""
        return any(candidate in targets for candidate in self.candidates(node))
