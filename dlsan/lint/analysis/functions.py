"""The file's own functions, classes and methods, and following calls into them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from dlsan.lint.context import FileContext, file_fact
from dlsan.lint.names import dotted_name


@dataclass
class FileIndex:
    #: module-level functions by name (the last definition wins, as at run time)
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    classes: dict[str, cst.ClassDef] = field(default_factory=dict)
    #: class name -> method name -> definition
    methods: dict[str, dict[str, cst.FunctionDef]] = field(default_factory=dict)


def _collect(statements: Sequence[cst.CSTNode], index: FileIndex) -> None:
    for statement in statements:
        if isinstance(statement, cst.FunctionDef):
            index.functions[statement.name.value] = statement
        elif isinstance(statement, cst.ClassDef):
            index.classes[statement.name.value] = statement
            index.methods[statement.name.value] = {
                item.name.value: item for item in statement.body.body if isinstance(item, cst.FunctionDef)
            }
        elif isinstance(statement, cst.If):
            _collect(statement.body.body, index)
            if isinstance(statement.orelse, cst.Else):
                _collect(statement.orelse.body.body, index)


@file_fact
def file_index(context: FileContext) -> FileIndex:
    index = FileIndex()
    _collect(context.module.body, index)
    return index


def base_names(context: FileContext, cls: cst.ClassDef) -> list[str]:
    """Qualified (or, when unresolved, dotted) names of a class's bases."""
    names = []
    for base in cls.bases:
        resolved = context.names.resolve(base.value) or dotted_name(base.value)
        if resolved:
            names.append(resolved)
    return names


def is_module_class(context: FileContext, cls: cst.ClassDef, _seen: frozenset[str] = frozenset()) -> bool:
    """Whether ``cls`` subclasses ``torch.nn.Module``, directly or through classes of this file.

    Bases such as ``nn.Module``, ``torch.nn.Sequential`` or ``pl.LightningModule`` count; an
    unresolvable base from another module does not.
    """
    index = file_index(context)
    for name in base_names(context, cls):
        if name.startswith("torch.nn.") or name in ("lightning.LightningModule",
                                                     "pytorch_lightning.LightningModule",
                                                     "lightning.pytorch.LightningModule"):
            return True
        local = index.classes.get(name)
        if local is not None and name not in _seen and is_module_class(context, local, _seen | {name}):
            return True
    return False


def parameter_names(function: cst.FunctionDef | cst.Lambda) -> set[str]:
    """Every parameter name of ``function``, ``*args`` and ``**kwargs`` included."""
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            every.append(star)
    return {param.name.value for param in every}


def called_function(context: FileContext, call: cst.Call, within: cst.ClassDef | None = None) -> cst.FunctionDef | None:
    """The same-file definition ``call`` runs: ``helper(...)`` or, inside a class, ``self.helper(...)``."""
    index = file_index(context)
    func = call.func
    if isinstance(func, cst.Name):
        return index.functions.get(func.value)
    if (
        within is not None
        and isinstance(func, cst.Attribute)
        and isinstance(func.value, cst.Name)
        and func.value.value == "self"
    ):
        return index.methods.get(within.name.value, {}).get(func.attr.value)
    return None
