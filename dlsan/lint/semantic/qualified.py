"""What a dotted name refers to where it is written, and whether that is known to be torch's.

The file-wide :class:`~dlsan.lint.names.NameResolver` reads every import of the file into one
table, so it cannot tell ``nn`` bound to ``torch.nn`` at the top of a conversion script from ``nn``
re-bound to ``flax.linen`` inside one of its functions, nor a star-imported ``softmax`` from the
``def softmax(x)`` written below it.  :func:`qualified_names` asks the semantic model instead: the
bindings of the name's head that reach the use (imports, aliases such as ``Adam = T.optim.Adam``,
but not the ``None`` put in place of an optional import), and only where no binding reaches it the star imports.  A name bound by anything else (a ``def``,
a parameter, a loop target) is a local object: no library name at all.

:func:`refers_to_torch` is the per-receiver framework gate of the torch rules: the name must be one
of the rule's torch names by every account (a name star-imported from both ``torch`` and
``tensorflow`` is not known to be torch's, so a rule stays quiet on it).
"""

from __future__ import annotations

from collections.abc import Collection

import libcst as cst

from dlsan.lint.catalog.frameworks import Framework, framework_of
from dlsan.lint.catalog.names import canonical
from dlsan.lint.context import FileContext, node_fact
from dlsan.lint.names import NameResolver, dotted_name
from dlsan.lint.semantic.scopes import BindingKind

_MAX_DEPTH = 6


@node_fact
def qualified_names(context: FileContext, node: cst.BaseExpression) -> frozenset[str]:
    """Every qualified name ``node`` (a Name/Attribute chain) may refer to where it is written;
    empty when it refers to a local object or cannot be known (asked once per node)."""
    return _qualified(context, node, 0)


def _qualified(context: FileContext, node: cst.BaseExpression, depth: int) -> frozenset[str]:
    dotted = dotted_name(node)
    if dotted is None or depth > _MAX_DEPTH:
        return frozenset()
    head_node = node
    while isinstance(head_node, cst.Attribute):
        head_node = head_node.value
    head, _, rest = dotted.partition(".")
    reaching = context.semantic.reaching(head, head_node)
    if not reaching:
        return frozenset(context.names.candidates(node))
    found: set[str] = set()
    for binding in reaching:
        if binding.kind is BindingKind.IMPORT and isinstance(binding.node, (cst.Import, cst.ImportFrom)):
            resolver = NameResolver()
            resolver.add_import(binding.node)
            bound = resolver.resolve(cst.Name(head))
            bases = frozenset({bound}) if bound is not None else frozenset()
        elif binding.is_plain and binding.kind is BindingKind.ASSIGNMENT:
            if isinstance(binding.value, cst.Name) and binding.value.value == "None":
                continue  # ``except ImportError: F = None``: the placeholder of an optional import
            bases = _qualified(context, binding.value, depth + 1)  # type: ignore[arg-type]
        else:
            return frozenset()
        if not bases:
            return frozenset()
        found.update(canonical(f"{base}.{rest}") if rest else base for base in bases)
    return frozenset(found)


def refers_to_torch(context: FileContext, node: cst.BaseExpression | None, targets: Collection[str]) -> bool:
    """Whether ``node`` is known to refer to one of the torch names ``targets`` where it is written:
    one of its possible names is, and every one of them is torch's."""
    if node is None:
        return False
    names = qualified_names(context, node)
    return any(name in targets for name in names) and all(
        framework_of(name) is Framework.TORCH for name in names)


def torch_names(context: FileContext, node: cst.BaseExpression) -> frozenset[str]:
    """The qualified names ``node`` may refer to, when all of them are torch's (else empty)."""
    names = qualified_names(context, node)
    return names if all(framework_of(name) is Framework.TORCH for name in names) else frozenset()
