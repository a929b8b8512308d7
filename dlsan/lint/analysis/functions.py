"""The file's own functions, classes and methods, and following calls into them.

:func:`called_function` finds a call's callee in the same file; :func:`callee` also follows the
project: ``self.helper()`` defined in a base class (of this file or of a project module),
and ``train(...)`` imported from the project's own ``engine.py`` (through the project index,
which records the file as a dependency of the result).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from dlsan.lint.analysis.nodes import function_names
from dlsan.lint.context import Fact, FileContext, file_fact, node_fact
from dlsan.lint.names import OWN_MODULE, dotted_name, is_self_member
from dlsan.lint.semantic.scopes import BindingKind


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


def forward_of(context: FileContext, cls: cst.ClassDef) -> cst.FunctionDef | None:
    """The ``forward`` a module class of this file defines itself."""
    return file_index(context).methods.get(cls.name.value, {}).get("forward")


def base_names(context: FileContext, cls: cst.ClassDef) -> list[str]:
    """Qualified (or, when unresolved, dotted) names of a class's bases."""
    names = []
    for base in cls.bases:
        resolved = context.names.resolve(base.value) or dotted_name(base.value)
        own = f"{OWN_MODULE}."
        if resolved and resolved.startswith(own) and "." not in resolved[len(own):]:
            # ``d2l.nn_Module`` where ``d2l = sys.modules[__name__]`` and ``nn_Module = nn.Module``
            resolved = context.names.top_level(resolved[len(own):]) or resolved
        if resolved:
            names.append(resolved)
    return names


def is_module_class(context: FileContext, cls: cst.ClassDef, _seen: frozenset[int] = frozenset()) -> bool:
    """Whether ``cls`` subclasses ``torch.nn.Module``, directly or through classes of this file or
    of the project's own modules (``class RNNLMScratch(d2l.Classifier)`` in the file ``d2l``
    imports as itself).

    Bases such as ``nn.Module``, ``torch.nn.Sequential`` or ``pl.LightningModule`` count; an
    unresolvable base from another module does not.
    """
    for name in base_names(context, cls):
        if name.startswith("torch.nn.") or name in ("lightning.LightningModule",
                                                     "pytorch_lightning.LightningModule",
                                                     "lightning.pytorch.LightningModule"):
            return True
    for base_context, base in base_classes(context, cls):
        if id(base) not in _seen and is_module_class(base_context, base, _seen | {id(cls)}):
            return True
    return False


def is_plain_class(context: FileContext, cls: cst.ClassDef, _seen: frozenset[int] = frozenset()) -> bool:
    """Whether ``cls`` is known to be no torch module: its bases are ``object`` or classes of this
    file or of the project's own modules that are plain themselves, and it names no metaclass
    (``class LinearRegression():`` with numpy weights and its own ``forward``/``backward``, in
    dair-ai/ML-Notebooks).  A base that cannot be followed may be a module: not plain."""
    if cls.keywords:
        return False
    followed = base_classes(context, cls)
    if len(followed) != sum(1 for base in cls.bases if dotted_name(base.value) != "object"):
        return False
    return all(id(base) not in _seen and is_plain_class(base_context, base, _seen | {id(cls)})
               for base_context, base in followed)


@node_fact
def base_classes(context: FileContext, cls: cst.ClassDef) -> list[tuple[FileContext, cst.ClassDef]]:
    """The bases of ``cls`` defined in this file or in the project's own modules, with the
    context of the file that defines each."""
    found = []
    for base in cls.bases:
        defined = defined_class(context, base.value)
        if defined is not None and defined[1] is not cls:
            found.append(defined)
    return found


def defined_class(context: FileContext, expr: cst.BaseExpression) -> tuple[FileContext, cst.ClassDef] | None:
    """The class ``expr`` names, when this file or one of the project's own modules defines it
    (``CrossEntropy2d`` after ``from loss import CrossEntropy2d``), with the context of its file."""
    from dlsan.lint.semantic import project

    local = file_index(context).classes.get(dotted_name(expr) or "")
    if local is not None:
        return context, local
    resolved = context.names.resolve(expr)
    located = project.resolve(context, resolved) if resolved else None
    if located is None:
        return None
    other = file_index(located[0].context).classes.get(located[1])
    return (located[0].context, other) if other is not None else None


@dataclass(frozen=True)
class Callee:
    """The definition a call runs, the file that defines it, and its class for a method."""

    context: FileContext
    function: cst.FunctionDef
    cls: cst.ClassDef | None = None

    def within(self, caller: FileContext, caller_class: cst.ClassDef | None) -> cst.ClassDef | None:
        """The class whose ``self`` methods the callee's own ``self.x()`` calls run: the method's
        class, else the caller's when the callee is a function of the caller's file."""
        if self.cls is not None:
            return self.cls
        return caller_class if self.context is caller else None


def callee(context: FileContext, call: cst.Call, within: cst.ClassDef | None = None) -> Callee | None:
    """What ``call`` runs, following the project: a function of this file, a ``self`` method of
    ``within`` or of a base class (this file's or a project module's), or a function imported from
    a project module (``from engine import train``)."""
    func = call.func
    if is_self_member(func):
        return method_of(context, within, func.attr.value) if within is not None else None
    local = called_function(context, call, within)
    if local is not None:
        return Callee(context, local)
    resolved = context.names.resolve(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
    return _project_function(context, resolved) if resolved else None


def method_of(context: FileContext, cls: cst.ClassDef, name: str,
              _seen: frozenset[int] = frozenset()) -> Callee | None:
    """The method ``name`` of ``cls``, its own or inherited from a base defined in the project."""
    own = file_index(context).methods.get(cls.name.value, {}).get(name)
    if own is not None:
        return Callee(context, own, cls)
    for base_context, base in base_classes(context, cls):
        if id(base) not in _seen:
            found = method_of(base_context, base, name, _seen | {id(cls)})
            if found is not None:
                return found
    return None


def _project_function(context: FileContext, qualified: str) -> Callee | None:
    from dlsan.lint.semantic import project

    located = project.resolve(context, qualified)
    if located is None:
        return None
    function = file_index(located[0].context).functions.get(located[1])
    return Callee(located[0].context, function) if function is not None else None


def parameter_names(function: cst.FunctionDef | cst.Lambda) -> set[str]:
    """Every parameter name of ``function``, ``*args`` and ``**kwargs`` included."""
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            every.append(star)
    return {param.name.value for param in every}


def called_function(context: FileContext, call: cst.Call, within: cst.ClassDef | None = None) -> cst.FunctionDef | None:
    """The same-file definition ``call`` runs: ``helper(...)`` (also a function nested in the
    calling one, as the bindings reaching the call say) or, inside a class, ``self.helper(...)``
    (asked of each call by several analyses: answered once per file)."""
    func = call.func
    # what can run no function of the file answers at once, before the table (most calls)
    if type(func) is cst.Name:
        if func.value not in function_names(context):
            return None  # no def of the name anywhere in the file: no binding to look for
    elif within is None or not is_self_member(func):
        return None
    return _CALLED_FUNCTION.get(context, (call, within), lambda: _called_function(context, call, within))


_CALLED_FUNCTION: Fact[tuple[cst.Call, cst.ClassDef | None], cst.FunctionDef | None] = Fact("called function")


def _called_function(context: FileContext, call: cst.Call, within: cst.ClassDef | None) -> cst.FunctionDef | None:
    index = file_index(context)
    func = call.func
    if isinstance(func, cst.Name):
        reaching = context.semantic.reaching(func.value, call)
        if len(reaching) == 1 and reaching[0].kind is BindingKind.FUNCTION_DEF \
                and isinstance(reaching[0].node, cst.FunctionDef):
            return reaching[0].node
        return index.functions.get(func.value)
    if within is not None and is_self_member(func):
        return index.methods.get(within.name.value, {}).get(func.attr.value)
    return None
