"""What a dotted name refers to where it is written, and whether that is known to be torch's.

Every rule asks here (``context.names``, a :class:`SiteNames`) what ``F.cross_entropy`` or ``Adam``
refers to.  A file-wide table of imports (:class:`~dlsan.lint.names.ImportTable`) cannot tell
``nn`` bound to ``torch.nn`` at the top of a conversion script from ``nn`` re-bound to
``flax.linen`` inside one of its functions, nor a star-imported ``softmax`` from the
``def softmax(x)`` written below it, and with imports met inside functions added as a walk meets
them, its answer depended on the order rules asked in.  :class:`SiteNames` asks the semantic model
instead: the bindings of the name's head that reach the use (imports, aliases such as
``Adam = T.optim.Adam`` or ``d2l = sys.modules[__name__]``, but not the ``None`` put in place of an
optional import), and only where no binding reaches it the star imports.  A name bound by anything
else (a ``def``, a parameter, a loop target) is a local object: no library name at all.

:func:`refers_to_torch` is the per-receiver framework gate of the torch rules: the name must be one
of the rule's torch names by every account (a name star-imported from both ``torch`` and
``tensorflow`` is not known to be torch's, so a rule stays quiet on it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, NamedTuple, Optional

import libcst as cst

from dlsan.lint.catalog.frameworks import Framework, framework_of
from dlsan.lint.catalog.names import canonical
from dlsan.lint.names import OWN_MODULE, ImportTable, dotted_name, is_own_module
from dlsan.lint.semantic.scopes import BindingKind

if TYPE_CHECKING:
    from dlsan.lint.context import FileContext
    from dlsan.lint.semantic.model import SemanticModel

_MAX_DEPTH = 6
_IMPORT_TYPES = frozenset({cst.Import, cst.ImportFrom})


class _Site(NamedTuple):
    #: every qualified name the expression may refer to (empty: a local object, or unknown)
    names: frozenset[str]
    #: whether a binding reaches the name's head (``False``: the names come from star imports)
    bound: bool


_UNKNOWN = _Site(frozenset(), False)
_LOCAL = _Site(frozenset(), True)
#: an answer and the names whose bindings decided it, at any depth (None: it may depend on more,
#: a node a rule built or a chain cut at ``_MAX_DEPTH``, so it is never carried to another version)
_Answer = tuple[_Site, Optional[frozenset[str]]]
_NO_NAMES: frozenset[str] = frozenset()


class SiteNames:
    """What dotted names refer to where they are written (each node answered once)."""

    def __init__(self, module: cst.Module, semantic: Callable[[], SemanticModel],
                 reuse: SiteReuse | None = None) -> None:
        self._module = module
        self._semantic = semantic
        self._top_level: ImportTable | None = None
        self._every_import: frozenset[str] | None = None
        #: id(node) -> (node, answer, the names that decided it); the node is kept so that its id
        #: stays its own
        self._answers: dict[int, tuple[cst.CSTNode, _Site, frozenset[str] | None]] = {}
        #: what the last version's lint kept, and (once asked) its answers that still hold here
        self._reuse = reuse
        self._carried: dict[int, tuple[cst.CSTNode, _Site, frozenset[str] | None]] | None = None
        #: id(import statement) -> (the statement, the table of that statement alone)
        self._import_tables: dict[int, tuple[cst.CSTNode, ImportTable]] = {}
        #: (dotted name, id(scope)) -> the answer for a read of the name in a function nested in
        #: that scope, which binds its head: every binding there reaches all such reads alike
        #: (``torch.zeros`` in each function of a module that imports torch)
        self._closure_answers: dict[tuple[str, int], _Answer] = {}

    # -- where a name is written -------------------------------------------------------------

    def qualified(self, node: cst.BaseExpression | None) -> frozenset[str]:
        """Every qualified name ``node`` (a Name/Attribute chain) may refer to where it is
        written; empty when it refers to a local object or cannot be known."""
        if node is None:
            return frozenset()
        known = self._answers.get(id(node))  # inlined _site's lookup: asked several times per call
        return (known[1] if known is not None else self._site(node, 0)).names

    def resolve(self, node: cst.BaseExpression | None) -> str | None:
        """The one qualified name ``node`` refers to by a binding that reaches it, else ``None``
        (a star-imported name, two possible names, a local object, anything but a dotted name)."""
        if node is None:
            return None
        known = self._answers.get(id(node))
        site = known[1] if known is not None else self._site(node, 0)
        if not site.bound or len(site.names) != 1:
            return None
        return next(iter(site.names))

    def bound_at(self, name: str, at: cst.CSTNode) -> str | None:
        """What the plain ``name`` would refer to if it were read at ``at`` (a node of the file):
        how a fix may spell ``torch.`` or ``nn.`` where it writes them."""
        site = self._compute(name, cst.Name(name), at, 0)[0]
        return next(iter(site.names)) if site.bound and len(site.names) == 1 else None

    def matches(self, node: cst.BaseExpression | None, targets: Collection[str]) -> bool:
        """Whether ``node`` may refer to one of the qualified names in ``targets``."""
        if node is None:
            return False
        known = self._answers.get(id(node))
        return not (known[1] if known is not None else self._site(node, 0)).names.isdisjoint(targets)

    # -- the file as a whole -----------------------------------------------------------------

    def top_level(self, name: str) -> str | None:
        """What the module's top level binds the plain ``name`` to by import or alias (what the
        file exports to others, or a name a rule builds rather than reads)."""
        return self._top_level_table().resolve_dotted(name)

    def star_modules(self) -> tuple[str, ...]:
        """The modules the file star-imports at its top level."""
        return self._top_level_table().star_modules()

    def imported(self) -> frozenset[str]:
        """Every qualified name the file imports, at any depth, and each star-imported module."""
        if self._every_import is None:
            table = ImportTable()
            for statement in self._semantic().imports:
                table.add_import(statement)
            self._every_import = table.imported() | frozenset(self.star_modules())
        return self._every_import

    # -- how -----------------------------------------------------------------------------------

    def _top_level_table(self) -> ImportTable:
        if self._top_level is None:
            self._top_level = ImportTable.for_module(self._module)
        return self._top_level

    def _import_table(self, statement: cst.Import | cst.ImportFrom) -> ImportTable:
        """The names ``statement`` alone binds (asked for each use its binding reaches)."""
        known = self._import_tables.get(id(statement))
        if known is not None:
            return known[1]
        table = ImportTable()
        table.add_import(statement)
        self._import_tables[id(statement)] = (statement, table)
        return table

    def _site(self, node: cst.BaseExpression, depth: int) -> _Site:
        return self._answer(node, depth)[0]

    def _answer(self, node: cst.BaseExpression, depth: int) -> _Answer:
        known = self._answers.get(id(node))
        if known is None:
            carried = self._carried if self._carried is not None else self._carry()
            known = carried.get(id(node))
            if known is not None and known[0] is node:
                self._answers[id(node)] = known
        if known is not None:
            return known[1], known[2]
        dotted = dotted_name(node)
        head_node = node
        while type(head_node) is cst.Attribute:  # exact types: libcst's classes are slow-to-ask ABCs
            head_node = head_node.value
        answer = self._compute(dotted, node, head_node, depth) if dotted is not None else (_UNKNOWN, _NO_NAMES)
        self._answers[id(node)] = (node, *answer)
        return answer

    def _carry(self) -> dict[int, tuple[cst.CSTNode, _Site, frozenset[str] | None]]:
        reuse = self._reuse
        self._carried = reuse.still_holding(self._semantic(), self.star_modules()) if reuse is not None else {}
        return self._carried

    def _compute(self, dotted: str, node: cst.BaseExpression, head_node: cst.CSTNode, depth: int) -> _Answer:
        """What ``node`` (written ``dotted``) refers to, its head read where ``head_node`` is."""
        if depth > _MAX_DEPTH:
            return _UNKNOWN, None
        head, _, rest = dotted.partition(".")
        semantic = self._semantic()
        if not semantic.contains(head_node):
            table = self._top_level_table()  # a node a rule built: the module's top level decides
            return _Site(frozenset(table.candidates(node)), table.resolve_dotted(head) is not None), None
        shared = semantic.closure_scope(head, head_node) if depth == 0 else None
        if shared is None:
            return self._from_bindings(head, rest, node, head_node, depth)
        key = (dotted, id(shared))
        answer = self._closure_answers.get(key)
        if answer is None:
            answer = self._closure_answers[key] = self._from_bindings(head, rest, node, head_node, depth)
        return answer

    def _from_bindings(self, head: str, rest: str, node: cst.BaseExpression, head_node: cst.CSTNode,
                       depth: int) -> _Answer:
        """What ``node`` (``head.rest``) refers to by the bindings of ``head`` that reach ``head_node``."""
        reaching = self._semantic().reaching(head, head_node)
        deciding: frozenset[str] | None = frozenset((head,))
        if not reaching:
            return _Site(frozenset(self._top_level_table().candidates(node)), False), deciding
        found: set[str] = set()
        for binding in reaching:
            if binding.kind is BindingKind.IMPORT and type(binding.node) in _IMPORT_TYPES:
                bound = self._import_table(binding.node).resolve_dotted(head)  # type: ignore[arg-type]
                bases = frozenset({bound}) if bound is not None else frozenset()
            elif binding.is_plain and binding.kind is BindingKind.ASSIGNMENT and binding.value is not None:
                if type(binding.value) is cst.Name and binding.value.value == "None":
                    continue  # ``except ImportError: F = None``: the placeholder of an optional import
                if is_own_module(binding.value):
                    bases = frozenset({OWN_MODULE})
                else:
                    site, by = self._answer(binding.value, depth + 1)
                    bases = site.names
                    deciding = None if deciding is None or by is None else deciding | by
            else:
                return _LOCAL, deciding
            if not bases:
                return _LOCAL, deciding
            found.update(canonical(f"{base}.{rest}") if rest else base for base in bases)
        return _Site(frozenset(found), True), deciding

    def keep(self, *, built: bool) -> None:
        """Keep this version's answers for the next version's lint, when there is a reuse (none
        when the semantic model was not ``built``: then nothing was answered from bindings, and
        the answers of an older version must not meet the next version's order of statements)."""
        if self._reuse is None:
            return
        if built:
            self._reuse.keep(self._answers, self._semantic(), self.star_modules())
        else:
            self._reuse.keep({}, None, ())


class SiteReuse:
    """The answers of a document's last version, for its next version (the language server's path:
    an edit leaves all but one or two top-level statements the very same node objects).

    An answer for a node of a statement that did not change still holds when the bindings that
    decided it did not change: what its head refers to is decided by the bindings of its head that
    reach it (and, for an alias, by the value's own answer, at any depth), in the statement's own
    scopes, else in the module's.  The statement's scopes are its subtree's; so an answer is
    carried unless one of the names that decided it is bound differently at the module's level (a
    binding added, gone, or made by another node: the changed statements' nodes are new objects),
    the star imports changed, or the unchanged statements are not in their old order (a read at
    the module's level sees the bindings before it).  Answers kept hold their nodes, so no id is
    reused by another object."""

    def __init__(self) -> None:
        self._answers: dict[int, tuple[cst.CSTNode, _Site, frozenset[str] | None]] = {}
        #: plain or dotted name -> the target nodes of its module-level bindings, in order
        self._bindings: dict[str, tuple[cst.CSTNode, ...]] = {}
        self._stars: tuple[str, ...] = ()
        #: the module of the version whose unchanged statements kept the order they had in the last
        #: version (told by the document's listing, which compares every statement of the two)
        self.in_order: cst.Module | None = None

    def keep(self, answers: dict[int, tuple[cst.CSTNode, _Site, frozenset[str] | None]],
             semantic: SemanticModel | None, stars: tuple[str, ...]) -> None:
        self._answers = answers
        self._bindings = _module_bindings(semantic) if semantic is not None else {}
        self._stars = stars

    def still_holding(self, semantic: SemanticModel,
                      stars: tuple[str, ...]) -> dict[int, tuple[cst.CSTNode, _Site, frozenset[str] | None]]:
        """The last version's answers that still hold in the version ``semantic`` models (whose
        star imports are ``stars``): none when the order of the statements changed, else all but
        those decided by a name bound anew.  An answer is used only for its own node."""
        if not self._answers or self.in_order is not semantic.module or stars != self._stars:
            return {}
        bindings = _module_bindings(semantic)
        rebound = {name for name in bindings.keys() | self._bindings.keys()
                   if not _same_nodes(bindings.get(name, ()), self._bindings.get(name, ()))}
        rebound |= {name.partition(".")[0] for name in rebound}
        return {key: answer for key, answer in self._answers.items()
                if answer[2] is not None and answer[2].isdisjoint(rebound)}


def _module_bindings(semantic: SemanticModel) -> dict[str, tuple[cst.CSTNode, ...]]:
    return {name: tuple(binding.target for binding in bindings) for name, bindings in semantic.root.bindings.items()}


def _same_nodes(these: tuple[cst.CSTNode, ...], those: tuple[cst.CSTNode, ...]) -> bool:
    return len(these) == len(those) and all(this is that for this, that in zip(these, those))


def refers_to_torch(context: FileContext, node: cst.BaseExpression | None, targets: Collection[str]) -> bool:
    """Whether ``node`` is known to refer to one of the torch names ``targets`` where it is written:
    one of its possible names is, and every one of them is torch's."""
    if node is None:
        return False
    names = context.names.qualified(node)
    return any(name in targets for name in names) and all(
        framework_of(name) is Framework.TORCH for name in names)


def torch_names(context: FileContext, node: cst.BaseExpression) -> frozenset[str]:
    """The qualified names ``node`` may refer to, when all of them are torch's (else empty)."""
    names = context.names.qualified(node)
    return names if all(framework_of(name) is Framework.TORCH for name in names) else frozenset()
