"""The per-file semantic model (``context.semantic``): scopes, bindings, reaching definitions,
abstract values (what a name holds) and function summaries.

Rules ask it instead of guessing from names: :class:`SemanticModel` for scopes and bindings,
:mod:`.values` for what an expression holds (a torch module and what it contains, an optimizer, a
loader and its split, a numpy array, an estimator ...) and its framework of origin.
"""

from __future__ import annotations

from dlsan.lint.semantic.model import (
           CONDITIONAL,
           Located,
           SemanticModel,
           names_read,
           root_names_read,
)
from dlsan.lint.semantic.scopes import (
           Binding,
           BindingKind,
           Scope,
           ScopeKind,
           target_names,
)

__all__ = ["CONDITIONAL", "Binding", "BindingKind", "Located", "Scope", "ScopeKind", "SemanticModel",
           "names_read", "root_names_read", "target_names"]
