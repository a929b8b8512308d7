"""Abstract values: what an expression holds, as far as the file tells.

:func:`value_of` answers with a :class:`Value`: a :class:`Kind` (torch tensor, ``nn.Module``,
optimizer, loss scaler, LR scheduler, DataLoader, dataset, numpy array, DataFrame, estimator, RPC
proxy, another object) and the framework of origin, plus what is known of it: a module's class and
whether it contains a mode-dependent layer (:class:`ModuleInfo`), a loader's or dataset's split
(:class:`Split`, by provenance: ``train=False``, ``split="test"``, the ``random_split`` /
``train_test_split`` part it came from, the dataset a loader wraps).

Values come from constructors and calls (through the catalogue), from ``x.to(device)``-style
calls that return their receiver, from every binding that reaches a use (all must agree), from a
parameter's annotation or from what every same-file caller passes, from ``self.attr`` assigned in
the class, and from what a same-file function returns.  Anything else is :data:`UNKNOWN`, and a
rule stays quiet on unknown.  Results are memoised per node.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, replace
from typing import Literal

import libcst as cst

from dlsan.lint.calls import get_arg, has_unpacking, numeric_value
from dlsan.lint.catalog import torch_api as T
from dlsan.lint.catalog.frameworks import DEEP_LEARNING, Framework, framework_of
from dlsan.lint.catalog.keras_api import DATASETS_PREFIX as KERAS_DATASETS_PREFIX
from dlsan.lint.catalog.keras_api import LOAD_DATA as KERAS_LOAD_DATA
from dlsan.lint.catalog.sklearn_api import SAMPLER_PREFIX, TRANSFORMER_PACKAGES
from dlsan.lint.catalog.torch_api import is_in_place
from dlsan.lint.context import FileContext, file_fact
from dlsan.lint.names import dotted_name, is_self_member
from dlsan.lint.semantic.scopes import UPDATING_KINDS, Binding, BindingKind
from dlsan.lint.walk import children

SplitName = Literal["train", "validation", "test"]


class Kind(enum.Enum):
    TENSOR = "tensor"
    MODULE = "module"
    OPTIMIZER = "optimizer"
    SCALER = "scaler"
    SCHEDULER = "scheduler"
    LOADER = "loader"
    DATASET = "dataset"
    NDARRAY = "ndarray"
    DATAFRAME = "dataframe"
    ESTIMATOR = "estimator"
    #: an RPC handle (``rref.remote()``): methods are remote calls by name
    RPC_PROXY = "rpc-proxy"
    #: a list or tuple (``element``: what its items hold)
    SEQUENCE = "sequence"
    #: an instance of some class (``obj.cls`` when it is one of this file's)
    OBJECT = "object"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Evidence:
    """Why the model believes something: a phrase and the node it points at (for messages)."""

    text: str
    node: cst.CSTNode | None = None

    def render(self, context: FileContext) -> str:
        """``"`nn.Dropout` on line 12"``: the phrase, and the place of its node."""
        if self.node is None:
            return self.text
        return f"{self.text} on {context.place_of(self.node)}"


@dataclass(frozen=True)
class Split:
    """Which split a dataset or loader holds, and the evidence (for messages)."""

    name: SplitName
    evidence: Evidence


@dataclass(frozen=True)
class ModuleInfo:
    """What is known of an ``nn.Module``."""

    #: canonical qualified name of a library class (``torch.nn.Linear``), else ``None``
    qualified: str | None = None
    #: the class of this file it was built from
    cls: cst.ClassDef | None = None
    #: contains dropout / batch-norm / another mode-dependent layer: True, False, or None (unknown)
    mode_dependent: bool | None = None
    #: why ``mode_dependent`` is what it is ("`nn.Dropout` on line 12")
    evidence: Evidence | None = None
    #: the class's ``__init__`` parameters that set the rate of every dropout layer that makes it
    #: mode-dependent (``nn.Dropout(dropout)``): an instance built with all of them ``0`` is
    #: ``otherwise`` instead (rasbt/LLMs-from-scratch builds ``CausalAttention(..., 0.0)``)
    unless_zero: frozenset[str] = frozenset()
    otherwise: bool | None = None

    @property
    def class_name(self) -> str | None:
        if self.cls is not None:
            return self.cls.name.value
        return self.qualified.rsplit(".", 1)[-1] if self.qualified else None


@dataclass(frozen=True)
class Value:
    kind: Kind
    framework: Framework | None = None
    module: ModuleInfo | None = None
    split: Split | None = None
    #: the class of this file an OBJECT was built from
    cls: cst.ClassDef | None = None
    #: ``DistributedOptimizer`` (gradients live in a dist_autograd context, no zero_grad)
    distributed: bool = False
    #: the call that built the value, when one did
    origin: cst.Call | None = None
    #: for a SEQUENCE, what its items hold
    element: Value | None = None
    #: a module known to be in eval or train mode (``build().eval()``), else ``None``
    mode: Literal["eval", "train"] | None = None
    #: for a tuple of known length, what each position holds
    items: tuple[Value, ...] | None = None
    #: a TENSOR that is a module's parameter (``nn.Parameter(...)``, ``for p in m.parameters()``)
    parameter: bool = False

    @property
    def is_torch(self) -> bool:
        return self.framework is Framework.TORCH

    @property
    def is_torch_tensor(self) -> bool:
        return self.kind is Kind.TENSOR and self.framework is Framework.TORCH

    @property
    def is_torch_module(self) -> bool:
        return self.kind is Kind.MODULE and self.framework is Framework.TORCH


UNKNOWN = Value(Kind.UNKNOWN)
_TORCH_TENSOR = Value(Kind.TENSOR, Framework.TORCH)
_TORCH_PARAMETER = Value(Kind.TENSOR, Framework.TORCH, parameter=True)
_MAX_DEPTH = 12
_ANNOTATIONS: dict[str, Kind] = {
    "torch.nn.Module": Kind.MODULE, "torch.optim.Optimizer": Kind.OPTIMIZER,
    "torch.utils.data.DataLoader": Kind.LOADER, "torch.utils.data.Dataset": Kind.DATASET,
    "torch.amp.GradScaler": Kind.SCALER,
}
_SEQUENCE_ANNOTATIONS = frozenset({"list", "List", "Sequence", "Iterable", "tuple", "Tuple",
                                   "typing.List", "typing.Sequence", "typing.Iterable", "typing.Tuple",
                                   "collections.abc.Sequence", "collections.abc.Iterable"})
_ELEMENT_WISE_COMPARISONS = (cst.Equal, cst.NotEqual, cst.LessThan, cst.GreaterThan, cst.LessThanEqual,
                              cst.GreaterThanEqual)
_NUMPY_NON_ARRAYS = frozenset({"numpy.random.seed", "numpy.set_printoptions", "numpy.save", "numpy.savez"})


def value_of(context: FileContext, expr: cst.BaseExpression) -> Value:
    """What ``expr`` holds where it is written (memoised)."""
    return _inference(context).value(expr, 0)


def is_torch_tensor(context: FileContext, expr: cst.BaseExpression) -> bool:
    """Whether ``expr`` is known to hold a torch tensor (a parameter included)."""
    return value_of(context, expr).is_torch_tensor


def is_parameter(context: FileContext, expr: cst.BaseExpression) -> bool:
    """Whether ``expr`` is known to hold a module's parameter."""
    value = value_of(context, expr)
    return value.is_torch_tensor and value.parameter


def module_info(context: FileContext, cls: cst.ClassDef) -> ModuleInfo:
    """What this file's ``nn.Module`` subclass ``cls`` contains."""
    return _inference(context).class_info(cls)


def file_frameworks(context: FileContext) -> frozenset[Framework]:
    """The frameworks the file imports (at any level, as far as the walk has read them)."""
    found = {framework_of(name) for name in context.names.imported()}
    return frozenset(f for f in found if f is not None)


def may_use_torch(context: FileContext) -> bool:
    """Whether code of unknown type in this file may be torch code: the file imports torch, or
    no other deep-learning framework (a snippet without imports)."""
    frameworks = file_frameworks(context)
    return Framework.TORCH in frameworks or not (frameworks & _OTHER_DEEP_LEARNING)


_OTHER_DEEP_LEARNING = DEEP_LEARNING - {Framework.TORCH}


@file_fact
def _inference(context: FileContext) -> _Inference:
    return _Inference(context)


def join(values: list[Value]) -> Value:
    """The value all of ``values`` agree on (what they share), else :data:`UNKNOWN`."""
    if not values:
        return UNKNOWN
    first = values[0]
    if any(v.kind is not first.kind or v.framework is not first.framework for v in values[1:]):
        return UNKNOWN
    if all(v == first for v in values[1:]):
        return first
    modules = [v.module for v in values]
    module = None
    if all(m is not None for m in modules):
        flags = {m.mode_dependent for m in modules if m is not None}
        names = {m.qualified for m in modules if m is not None}
        module = ModuleInfo(names.pop() if len(names) == 1 else None, mode_dependent=flags.pop() if len(flags) == 1 else None,
                            evidence=next((m.evidence for m in modules if m is not None and m.evidence), None))
    splits = {v.split.name if v.split else None for v in values}
    split = first.split if len(splits) == 1 else None
    modes = {v.mode for v in values}
    items = None
    if all(v.items is not None and len(v.items) == len(first.items or ()) for v in values):
        items = tuple(join([v.items[i] for v in values if v.items is not None]) for i in range(len(first.items or ())))
    return Value(first.kind, first.framework, module, split, distributed=all(v.distributed for v in values),
                 mode=modes.pop() if len(modes) == 1 else None, items=items)


class _Inference:
    def __init__(self, context: FileContext) -> None:
        self.context = context
        self.semantic = context.semantic
        self.cache: dict[int, Value] = {}
        self.classes: dict[int, ModuleInfo] = {}
        self.active: set[int] = set()

    # -- expressions -----------------------------------------------------------------------------

    def value(self, expr: cst.BaseExpression, depth: int) -> Value:
        key = id(expr)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if depth > _MAX_DEPTH or key in self.active:
            return UNKNOWN
        self.active.add(key)
        try:
            found = self._compute(expr, depth)
        finally:
            self.active.discard(key)
        self.cache[key] = found
        return found

    def _compute(self, expr: cst.BaseExpression, depth: int) -> Value:
        if isinstance(expr, cst.Call):
            return self.call(expr, depth)
        if isinstance(expr, (cst.Name, cst.Attribute)):
            return self.name(expr, depth)
        if isinstance(expr, (cst.List, cst.Tuple)):
            return self.sequence(expr, depth)
        if isinstance(expr, cst.Subscript):
            container = self.value(expr.value, depth + 1)
            if container.kind is Kind.SEQUENCE and container.element is not None:
                return container.element
            if container.kind in (Kind.TENSOR, Kind.NDARRAY):  # indexing an array gives an array
                return Value(container.kind, container.framework)
            return UNKNOWN
        if isinstance(expr, (cst.BinaryOperation, cst.Comparison, cst.UnaryOperation)):
            return self.arithmetic(expr, depth)
        return UNKNOWN

    def arithmetic(self, expr: cst.BinaryOperation | cst.Comparison | cst.UnaryOperation, depth: int) -> Value:
        """Element-wise arithmetic, comparison or ``@`` on a torch tensor, with tensors or numbers:
        a torch tensor.  Anything else (an operand of unknown kind included) is unknown."""
        if isinstance(expr, cst.BinaryOperation):
            operands = [expr.left, expr.right]
        elif isinstance(expr, cst.Comparison):
            if not all(isinstance(c.operator, _ELEMENT_WISE_COMPARISONS) for c in expr.comparisons):
                return UNKNOWN
            operands = [expr.left, *(c.comparator for c in expr.comparisons)]
        elif isinstance(expr.operator, cst.Not):
            return UNKNOWN
        else:
            operands = [expr.expression]
        tensors = 0
        for operand in operands:
            if numeric_value(operand) is not None:
                continue
            if not self.value(operand, depth + 1).is_torch_tensor:
                return UNKNOWN
            tensors += 1
        return _TORCH_TENSOR if tensors else UNKNOWN

    def sequence(self, expr: cst.List | cst.Tuple, depth: int) -> Value:
        items = []
        for element in expr.elements:
            if isinstance(element, cst.StarredElement):
                inner = self.value(element.value, depth + 1)
                items.append(inner.element if inner.kind is Kind.SEQUENCE and inner.element else UNKNOWN)
            else:
                items.append(self.value(element.value, depth + 1))
        positions = None
        if isinstance(expr, cst.Tuple) and not any(isinstance(e, cst.StarredElement) for e in expr.elements):
            positions = tuple(items)
        return Value(Kind.SEQUENCE, element=join(items) if items else None, items=positions)

    def name(self, expr: cst.Name | cst.Attribute, depth: int) -> Value:
        dotted = dotted_name(expr)
        reaching = self.semantic.reaching(dotted, expr) if dotted is not None else []
        if reaching:
            replacing = [b for b in reaching if b.kind not in UPDATING_KINDS]
            # ``x[i] = v`` and ``x += v`` keep what ``x`` holds: the bindings they update decide
            return join([self.binding(b, depth + 1) for b in (replacing or reaching)])
        if isinstance(expr, cst.Attribute):
            found = self.member(expr, depth)
            if found is not None:
                return found
        if dotted is None:
            return UNKNOWN
        owner = self._self_attribute_class(expr)
        if owner is not None and isinstance(expr, cst.Attribute):
            return self.attribute(owner, expr.attr.value, depth + 1)
        return UNKNOWN

    def member(self, expr: cst.Attribute, depth: int) -> Value | None:
        """``x.T`` of a tensor; ``model.fc`` of a module of this file's class (what the class
        assigns to ``self.fc``); ``layer.weight`` of a torch layer (a parameter)."""
        attr = expr.attr.value
        if is_self_member(expr):
            return None
        base = self.value(expr.value, depth + 1)
        if base.kind is Kind.TENSOR and attr in T.TENSOR_ATTRIBUTES:
            return Value(Kind.TENSOR, base.framework)
        if not base.is_torch_module or base.module is None:
            return None
        if base.module.cls is not None:
            return self.attribute(base.module.cls, attr, depth + 1)
        if attr in T.PARAMETER_ATTRIBUTES and (base.module.qualified or "").startswith("torch.nn."):
            return _TORCH_PARAMETER
        return None

    def binding(self, binding: Binding, depth: int) -> Value:
        kind = binding.kind
        if binding.is_plain:
            return self.value(binding.value, depth)  # type: ignore[arg-type]
        if kind is BindingKind.UNPACKING and binding.value is not None and binding.index is not None:
            return self.unpacked(binding.value, binding.index, depth)
        if kind is BindingKind.PARAMETER and isinstance(binding.node, cst.Param):
            return self.parameter(binding.node, depth)
        if binding.element and binding.value is not None:
            iterable = self.value(binding.value, depth)
            if iterable.kind is not Kind.SEQUENCE or iterable.element is None:
                return UNKNOWN
            if binding.index is None:
                return iterable.element
            items = iterable.element.items
            return items[binding.index] if items is not None and binding.index < len(items) else UNKNOWN
        return UNKNOWN

    def unpacked(self, value: cst.BaseExpression, index: int, depth: int) -> Value:
        """One part of ``a, b = value``: the splits of ``random_split`` / ``train_test_split``."""
        if not isinstance(value, cst.Call):
            return UNKNOWN
        resolved = self.context.names.resolve(value.func) or ""
        last = resolved.rsplit(".", 1)[-1]
        if resolved == T.RANDOM_SPLIT:
            lengths = get_arg(value, "lengths", 1)
            count = len(lengths.value.elements) if lengths is not None and isinstance(
                lengths.value, (cst.List, cst.Tuple)) else None
            split = _split_by_position(index, count)
            if split is None:
                return Value(Kind.DATASET, Framework.TORCH, origin=value)
            return Value(Kind.DATASET, Framework.TORCH, origin=value,
                         split=Split(split, Evidence(f"part {index + 1} of the `random_split`", value)))
        if last == "train_test_split" and resolved.startswith("sklearn."):
            # the held-out part of a split of training data is a validation split
            data = value.args[0].value if value.args and not value.args[0].keyword and not value.args[0].star else None
            inner = self.value(data, depth + 1).split if data is not None else None
            held_out: SplitName = "validation" if inner is not None and inner.name == "train" else "test"
            part: SplitName = "train" if index % 2 == 0 else held_out
            return Value(Kind.UNKNOWN, origin=value,
                         split=Split(part, Evidence(f"the {part} part of the `train_test_split`", value)))
        if resolved.startswith(KERAS_DATASETS_PREFIX) and last == KERAS_LOAD_DATA and index in (0, 1):
            part = "train" if index == 0 else "test"
            return Value(Kind.UNKNOWN, origin=value,
                         split=Split(part, Evidence(f"the {part} part of `{self.context.code(value.func)}()`", value)))
        whole = self.value(value, depth + 1)
        if whole.items is not None and index < len(whole.items):
            return whole.items[index]
        return UNKNOWN

    def parameter(self, param: cst.Param, depth: int) -> Value:
        if param.annotation is not None:
            annotated = self.annotated(_annotation_expr(param.annotation.annotation), depth)
            if annotated.kind is not Kind.UNKNOWN:
                return annotated
        function = self.semantic.enclosing(param, cst.FunctionDef)
        if not isinstance(function, cst.FunctionDef):
            return UNKNOWN
        return self.passed(function, param.name.value, depth)

    def annotated(self, annotation: cst.BaseExpression, depth: int) -> Value:
        """What a parameter annotated ``annotation`` holds: ``nn.Module``, a class of this file,
        ``list[nn.Module]``."""
        from dlsan.lint.analysis.functions import file_index, is_module_class

        if isinstance(annotation, cst.Subscript) and len(annotation.slice) >= 1:
            container = self.context.names.resolve(annotation.value) or dotted_name(annotation.value)
            first = annotation.slice[0].slice
            if container in _SEQUENCE_ANNOTATIONS and isinstance(first, cst.Index):
                return Value(Kind.SEQUENCE, element=self.annotated(first.value, depth + 1))
            return UNKNOWN
        resolved = self.context.names.resolve(annotation)
        if resolved in T.TENSOR_CLASSES:
            return _TORCH_PARAMETER if resolved in T.PARAMETER_CLASSES else _TORCH_TENSOR
        if resolved in _ANNOTATIONS:
            return Value(_ANNOTATIONS[resolved], Framework.TORCH)
        cls = file_index(self.context).classes.get(dotted_name(annotation) or "")
        if cls is not None and is_module_class(self.context, cls):
            return Value(Kind.MODULE, Framework.TORCH, self.class_info(cls))
        return UNKNOWN

    def passed(self, function: cst.FunctionDef, parameter: str, depth: int) -> Value:
        """What every same-file caller of a plain function passes for ``parameter``."""
        from dlsan.lint.analysis.callers import (
            call_sites,  # the caller index sits on the model
        )

        positions = [p.name.value for p in function.params.params]
        if parameter not in positions or (positions and positions[0] in ("self", "cls")):
            return UNKNOWN
        values = []
        for site in call_sites(self.context, function):
            argument = get_arg(site, parameter, positions.index(parameter))
            if argument is None or has_unpacking(site):
                return UNKNOWN
            values.append(self.value(argument.value, depth + 1))
        return join(values)

    def attribute(self, cls: cst.ClassDef, attr: str, depth: int) -> Value:
        """``self.<attr>``: what every assignment of it in the class's methods agrees on."""
        from dlsan.lint.analysis.functions import file_index

        values = []
        for method in file_index(self.context).methods.get(cls.name.value, {}).values():
            for binding in self.semantic.scope_for(method).bindings_of(f"self.{attr}"):
                values.append(self.binding(binding, depth + 1) if binding.is_plain else UNKNOWN)
        return join(values)

    def _self_attribute_class(self, expr: cst.BaseExpression) -> cst.ClassDef | None:
        if not is_self_member(expr):
            return None
        owner = self.semantic.enclosing(expr, cst.ClassDef)
        return owner if isinstance(owner, cst.ClassDef) else None

    # -- calls -----------------------------------------------------------------------------------

    def call(self, call: cst.Call, depth: int) -> Value:
        func = call.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in T.RPC_PROXY_METHODS:
                return Value(Kind.RPC_PROXY, Framework.TORCH, origin=call)
            receiver = self.value(func.value, depth + 1)
            if method in T.SELF_RETURNING and receiver.kind in (Kind.MODULE, Kind.TENSOR):
                mode = _mode_set_by(call)
                return receiver if mode is None else _with_mode(receiver, mode)
            if method in ("eval", "train") and receiver.kind is Kind.UNKNOWN:
                return Value(Kind.UNKNOWN, mode=_mode_set_by(call))
            if receiver.kind is Kind.TENSOR:
                return _tensor_method(call, method, receiver)
            if method in T.PARAMETER_ITERATORS and (receiver.is_torch_module or receiver.kind is Kind.UNKNOWN
                                                    and may_use_torch(self.context)):
                return _parameters(T.PARAMETER_ITERATORS[method])
        resolved = self.context.names.resolve(func)
        if resolved is not None:
            return self.library_call(call, resolved, depth)
        if isinstance(func, cst.Name):
            return self.local_call(call, func.value, depth)
        return UNKNOWN

    def library_call(self, call: cst.Call, resolved: str, depth: int) -> Value:
        framework = framework_of(resolved)
        last = resolved.rsplit(".", 1)[-1]
        loaded = _hugging_face_loaded(resolved)
        if loaded == "model":
            # Hugging Face's from_pretrained() returns the model in eval mode
            return Value(Kind.MODULE, Framework.TORCH, ModuleInfo(resolved), origin=call, mode="eval")
        if loaded == "preprocessor":
            return Value(Kind.OBJECT, origin=call)
        if framework is Framework.TORCH:
            return self.torch_call(call, resolved, depth)
        if framework is Framework.NUMPY:
            return UNKNOWN if resolved in _NUMPY_NON_ARRAYS else Value(Kind.NDARRAY, framework, origin=call)
        if framework is Framework.PANDAS:
            if last == "DataFrame" or last.startswith("read_"):
                return Value(Kind.DATAFRAME, framework, origin=call)
            return UNKNOWN
        if framework is Framework.SKLEARN and last[:1].isupper() and resolved.startswith(
                (*TRANSFORMER_PACKAGES, SAMPLER_PREFIX, "sklearn.")):
            return Value(Kind.ESTIMATOR, framework, origin=call)
        if framework is not None:
            return Value(Kind.OBJECT, framework, origin=call)
        return self.project_call(call, resolved, depth)

    def project_call(self, call: cst.Call, resolved: str, depth: int) -> Value:
        """A call of a class or function defined in another file of the project."""
        from dlsan.lint.semantic import project

        pending = [(resolved, self.context.path)]
        for _ in range(6):  # re-exports: ``from .model import Net`` or ``from .clip import *``
            if not pending:
                break
            qualified, importer = pending.pop(0)
            found = project.resolve(self.context, qualified, importer)
            if found is None:
                continue
            loaded, name = found
            value = _inference(loaded.context).top_level(name, depth + 1)
            if value is not None:
                if value.module is not None and value.module.cls is not None:
                    value = replace(value, module=self._constructed(value.module, value.module.cls, call,
                                                                    owner=loaded.context))
                return value if loaded.context is self.context else _localised(value, loaded.context, qualified)
            names = loaded.context.names
            target = names.top_level(name)
            if target is not None and target != qualified:
                pending.append((target, loaded.context.path))
            elif target is None:
                pending.extend((f"{star}.{name}", loaded.context.path) for star in names.star_modules())
        return UNKNOWN

    def top_level(self, name: str, depth: int) -> Value | None:
        """What calling this file's top-level class or function ``name`` gives (``None``: no such)."""
        from dlsan.lint.analysis.functions import file_index, is_module_class

        index = file_index(self.context)
        cls = index.classes.get(name)
        if cls is not None:
            if is_module_class(self.context, cls):
                return Value(Kind.MODULE, Framework.TORCH, self.class_info(cls))
            return Value(Kind.OBJECT, self._class_framework(cls), cls=cls)
        function = index.functions.get(name)
        if function is not None:
            return self.returned(function, depth)
        return None

    def torch_call(self, call: cst.Call, resolved: str, depth: int) -> Value:
        torch = Framework.TORCH
        last = resolved.rsplit(".", 1)[-1]
        if resolved in T.DISTRIBUTED_OPTIMIZERS:
            return Value(Kind.OPTIMIZER, torch, distributed=True, origin=call)
        if resolved.startswith(T.SCHEDULER_PREFIX):
            return Value(Kind.SCHEDULER, torch, origin=call)
        if resolved.startswith(T.OPTIMIZER_PREFIX) and last[:1].isupper():
            return Value(Kind.OPTIMIZER, torch, origin=call)
        if resolved in T.SCALERS:
            return Value(Kind.SCALER, torch, origin=call)
        if resolved in T.TENSOR_CLASSES:
            parameter = resolved in T.PARAMETER_CLASSES
            return Value(Kind.TENSOR, torch, origin=call, parameter=parameter)
        if resolved == T.DATALOADER:
            dataset = get_arg(call, "dataset", 0)
            inner = self.value(dataset.value, depth + 1) if dataset is not None else UNKNOWN
            split = inner.split
            if split is not None and dataset is not None:
                text = f"`{self.context.code(dataset.value)}`, {split.evidence.text}"
                split = Split(split.name, Evidence(text, split.evidence.node))
            return Value(Kind.LOADER, torch, split=split, origin=call)
        if resolved.startswith("torchvision.datasets.") and last[:1].isupper():
            return Value(Kind.DATASET, torch, split=self._dataset_split(call), origin=call)
        if resolved in T.WRAPPERS:
            wrapped = get_arg(call, "module", 0)
            inner = self.value(wrapped.value, depth + 1) if wrapped is not None else UNKNOWN
            return inner if inner.kind is Kind.MODULE else Value(Kind.MODULE, torch, ModuleInfo(resolved), origin=call)
        if resolved.startswith(T.MODE_DEPENDENT_FACTORIES):
            if resolved.startswith("torchvision.models.") and last[:1].isupper():
                return UNKNOWN  # an enum of weights, a class ... not a model built here
            return Value(Kind.MODULE, torch, ModuleInfo(resolved, mode_dependent=True,
                                                        evidence=Evidence(f"`{last}` (a library architecture)", call)),
                         origin=call)
        if resolved.startswith("torch.nn.") and not resolved.startswith("torch.nn.functional.") and last[:1].isupper():
            return Value(Kind.MODULE, torch, self.layer_info(call, resolved, depth), origin=call)
        if resolved in T.SCRIPT_LOADERS:
            return Value(Kind.MODULE, torch, ModuleInfo(resolved, mode_dependent=None), origin=call)
        if resolved in T.LOADERS:
            return Value(Kind.UNKNOWN, torch, origin=call)  # whatever was saved: a model, a state dict ...
        if _returns_tensor(call, resolved):
            return Value(Kind.TENSOR, torch, origin=call)
        return Value(Kind.OBJECT, torch, origin=call)

    def local_call(self, call: cst.Call, name: str, depth: int) -> Value:
        from dlsan.lint.analysis.functions import file_index, is_module_class

        index = file_index(self.context)
        cls = index.classes.get(name)
        if cls is not None and all(b.kind is BindingKind.CLASS_DEF for b in self.semantic.reaching(name, call)):
            if is_module_class(self.context, cls):
                return Value(Kind.MODULE, Framework.TORCH, self._constructed(self.class_info(cls), cls, call),
                             origin=call)
            return Value(Kind.OBJECT, self._class_framework(cls), cls=cls, origin=call)
        function = index.functions.get(name)
        if function is not None:
            return self.returned(function, depth, call)
        return UNKNOWN

    def returned(self, function: cst.FunctionDef, depth: int, call: cst.Call | None = None) -> Value:
        """What every ``return`` of a same-file function agrees on; a returned parameter is what
        ``call`` passes for it (``def layer_init(layer, std): ...; return layer``)."""
        returns = self.semantic.scope_for(function).returns
        values = [r.value for r in returns if r.value is not None]
        if not values or len(values) != len(returns):
            return UNKNOWN
        return join([self._returned_value(function, v, depth, call) for v in values])

    def _returned_value(self, function: cst.FunctionDef, expr: cst.BaseExpression, depth: int,
                        call: cst.Call | None) -> Value:
        if call is not None and isinstance(expr, cst.Name):
            reaching = self.semantic.reaching(expr.value, expr)
            if len(reaching) == 1 and reaching[0].kind is BindingKind.PARAMETER:
                positions = [p.name.value for p in function.params.params]
                if expr.value in positions:
                    argument = get_arg(call, expr.value, positions.index(expr.value))
                    return self.value(argument.value, depth + 1) if argument is not None else UNKNOWN
        return self.value(expr, depth + 1)

    def _class_framework(self, cls: cst.ClassDef) -> Framework | None:
        for base in cls.bases:
            framework = framework_of(self.context.names.resolve(base.value))
            if framework is not None:
                return framework
        return None

    def _dataset_split(self, call: cst.Call) -> Split | None:
        train = get_arg(call, "train", None)
        if train is not None and isinstance(train.value, cst.Name) and train.value.value in ("True", "False"):
            name: SplitName = "train" if train.value.value == "True" else "test"
            return Split(name, Evidence(f"the `train={train.value.value}` dataset built", call))
        split = get_arg(call, "split", None)
        if split is not None and isinstance(split.value, cst.SimpleString):
            text = str(split.value.evaluated_value).lower()
            named = {"train": "train", "test": "test", "val": "validation", "valid": "validation",
                     "validation": "validation"}.get(text)
            if named is not None:
                return Split(named, Evidence(f"the `split={text!r}` dataset built", call))  # type: ignore[arg-type]
        return None

    # -- modules ---------------------------------------------------------------------------------

    def layer_info(self, call: cst.Call, resolved: str, depth: int) -> ModuleInfo:
        """A library layer or container: does it depend on the mode?"""
        short = resolved.replace("torch.nn.", "nn.")
        if resolved in T.DROPOUT_LAYERS:
            return self._dropout_info(call, resolved, Evidence(f"`{short}`", call))
        if resolved in T.MODE_DEPENDENT_LAYERS:
            return ModuleInfo(resolved, mode_dependent=True, evidence=Evidence(f"`{short}`", call))
        if resolved in T.MODE_DEPENDENT_BY_ARGUMENT:
            keyword, position, default = T.MODE_DEPENDENT_BY_ARGUMENT[resolved]
            arg = get_arg(call, keyword, position)
            if arg is None:
                return ModuleInfo(resolved, mode_dependent=False)
            literal = _literal(arg.value)
            if literal is None:
                return ModuleInfo(resolved, mode_dependent=None)
            if literal != default and literal != 0:
                return ModuleInfo(resolved, mode_dependent=True,
                                  evidence=Evidence(f"`{short}({keyword}={self.context.code(arg.value)})`", call))
            return ModuleInfo(resolved, mode_dependent=False)
        if resolved in T.MODE_FREE_LAYERS or resolved in T.LOSS_MODULES:
            return ModuleInfo(resolved, mode_dependent=False)
        if resolved in T.CONTAINERS:
            return self._container_info(call, resolved, depth)
        return ModuleInfo(resolved, mode_dependent=None)

    def _dropout_info(self, call: cst.Call, resolved: str, evidence: Evidence) -> ModuleInfo:
        """A dropout layer is mode-free with a rate of literally 0, and depends on the instance
        when its rate is a parameter of the ``__init__`` building it."""
        rate = get_arg(call, "p", 0)
        if rate is None:
            return ModuleInfo(resolved, mode_dependent=True, evidence=evidence)  # the default rate, 0.5
        literal = _literal(rate.value)
        if literal is not None:
            return ModuleInfo(resolved, mode_dependent=literal != 0, evidence=evidence)
        parameter = self._init_parameter(rate.value)
        unless_zero = frozenset({parameter}) if parameter is not None else frozenset()
        return ModuleInfo(resolved, mode_dependent=True, evidence=evidence, unless_zero=unless_zero, otherwise=False)

    def _init_parameter(self, expr: cst.BaseExpression) -> str | None:
        """The name of the ``__init__`` parameter ``expr`` reads, when it is exactly that."""
        if not isinstance(expr, cst.Name):
            return None
        frame = self.semantic.frame_of(expr)
        if not isinstance(frame.node, cst.FunctionDef) or frame.node.name.value != "__init__":
            return None
        reaching = self.semantic.reaching(expr.value, expr)
        if len(reaching) == 1 and reaching[0].kind is BindingKind.PARAMETER \
                and reaching[0] in frame.bindings_of(expr.value):
            return expr.value
        return None

    def _constructed(self, info: ModuleInfo, cls: cst.ClassDef, call: cst.Call,
                     owner: FileContext | None = None) -> ModuleInfo:
        """What the instance ``call`` builds of ``cls`` (a class of ``owner``, default this file)
        holds: a class whose dropout rates are its constructor's parameters is mode-free when the
        call passes (or defaults) them all to 0."""
        if not info.unless_zero:
            return info
        unconditional = replace(info, unless_zero=frozenset(), otherwise=None)
        init = _init_of(owner or self.context, cls)
        if init is None:
            return unconditional
        positional = [p.name.value for p in init.params.params][1:]
        defaults = {p.name.value: p.default for p in (*init.params.params, *init.params.kwonly_params)}
        still: set[str] = set()
        for name in info.unless_zero:
            arg = get_arg(call, name, positional.index(name) if name in positional else None)
            if arg is None and has_unpacking(call):
                return unconditional
            rate = arg.value if arg is not None else defaults.get(name)
            literal = _literal(rate) if rate is not None else None
            outer = self._init_parameter(rate) if rate is not None and literal is None else None
            if literal is None and outer is None:
                return unconditional
            if literal is not None and literal != 0:
                return unconditional
            if outer is not None:
                still.add(outer)
        if still:
            return replace(info, unless_zero=frozenset(still))
        return ModuleInfo(info.qualified, info.cls, info.otherwise)

    def _container_info(self, call: cst.Call, resolved: str, depth: int) -> ModuleInfo:
        parts: list[cst.BaseExpression] = []
        for arg in call.args:
            if arg.star == "*":
                elements = self._list_elements(arg.value)
                if elements is None:
                    return ModuleInfo(resolved, mode_dependent=None)
                parts.extend(elements)
            elif arg.star:
                return ModuleInfo(resolved, mode_dependent=None)
            elif isinstance(arg.value, (cst.List, cst.Tuple)):
                parts.extend(e.value for e in arg.value.elements)
            elif isinstance(arg.value, cst.Dict):
                parts.extend(e.value for e in arg.value.elements if isinstance(e, cst.DictElement))
            else:
                parts.append(arg.value)
        return _combine(resolved, [self._part_info(p, depth) for p in parts])

    def _part_info(self, expr: cst.BaseExpression, depth: int) -> ModuleInfo | None:
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
            return self._part_info(expr.elt, depth + 1)
        value = self.value(expr, depth + 1)
        return value.module if value.kind is Kind.MODULE else None

    def _list_elements(self, expr: cst.BaseExpression) -> list[cst.BaseExpression] | None:
        """The elements of a list built in its scope: ``[a, b]`` then ``.append(c)``, ``.extend([d])``,
        ``+= [e]``; ``None`` when the list is built any other way."""
        if isinstance(expr, (cst.List, cst.Tuple)):
            return [e.value for e in expr.elements if not isinstance(e, cst.StarredElement)]
        if not isinstance(expr, cst.Name):
            return None
        scope = self.semantic.frame_of(expr)
        found = self.semantic.resolving_scope(expr.value, expr)
        if found is None or found[0].frame is not scope:
            return None
        elements: list[cst.BaseExpression] = []
        for binding in scope.bindings_of(expr.value):
            if binding.kind is BindingKind.ASSIGNMENT and isinstance(binding.value, (cst.List, cst.Tuple)) or binding.kind is BindingKind.AUGMENTED and isinstance(binding.value, (cst.List, cst.Tuple)):
                elements.extend(e.value for e in binding.value.elements)
            else:
                return None
        for read in scope.reads.get(f"{expr.value}.append", []) + scope.reads.get(f"{expr.value}.extend", []):
            parent = self.semantic.parent(read)
            if not isinstance(parent, cst.Call) or not parent.args:
                return None
            value = parent.args[0].value
            if isinstance(read, cst.Attribute) and read.attr.value == "extend":
                if not isinstance(value, (cst.List, cst.Tuple)):
                    return None
                elements.extend(e.value for e in value.elements)
            else:
                elements.append(value)
        return elements

    def class_info(self, cls: cst.ClassDef) -> ModuleInfo:
        key = id(cls)
        cached = self.classes.get(key)
        if cached is not None:
            return cached
        self.classes[key] = ModuleInfo(cls=cls, mode_dependent=None)  # recursion guard
        info = self._class_info(cls)
        self.classes[key] = info
        return info

    def _class_info(self, cls: cst.ClassDef) -> ModuleInfo:
        from dlsan.lint.analysis.functions import file_index

        index = file_index(self.context)
        parts: list[ModuleInfo | None] = []
        for base in cls.bases:
            local = index.classes.get(dotted_name(base.value) or "")
            resolved = self.context.names.resolve(base.value)
            if local is not None:
                inherited = self.class_info(local)
                if "__init__" in index.methods.get(cls.name.value, {}):  # the base's rates are not our parameters
                    inherited = replace(inherited, unless_zero=frozenset(), otherwise=None)
                parts.append(inherited)
            elif resolved is None or (resolved.startswith("torch.nn.") and resolved != "torch.nn.Module"):
                parts.append(None)  # a base of unknown contents
        called = _called_attributes(self.context, cls)
        by_name = index.methods.get(cls.name.value, {})
        methods = by_name.values()
        assigned = {name[5:] for method in methods for name in self.semantic.scope_for(method).bindings
                    if name.startswith("self.")}
        if called - assigned - set(by_name) - _inherited_methods(self.context, cls) - T.MODULE_OWN_METHODS:
            parts.append(None)  # runs a sub-module the class does not build (a base or a caller does)
        for method in methods:
            scope = self.semantic.scope_for(method)
            for call in scope.calls:
                info = self._constructed_layer(call)
                if info is not None:
                    parts.append(info)
            for name, bindings in scope.bindings.items():
                if not name.startswith("self.") or name.count(".") != 1 or name[5:] not in called:
                    continue
                for binding in bindings:
                    value = self.binding(binding, 1)
                    if value.kind is not Kind.MODULE:
                        parts.append(None)
        return _combine(None, parts, cls)

    def _constructed_layer(self, call: cst.Call) -> ModuleInfo | None:
        """The layer a call inside a class builds (or applies: ``F.dropout``), else ``None``.

        Containers are skipped: the layers they hold are calls of the class too."""
        resolved = self.context.names.resolve(call.func)
        if resolved is not None:
            if resolved in T.CONTAINERS:
                return None
            if resolved in T.FUNCTIONAL_MODE_DEPENDENT:
                short = resolved.replace("torch.nn.functional.", "F.")
                return ModuleInfo(resolved, mode_dependent=True, evidence=Evidence(f"`{short}`", call))
            last = resolved.rsplit(".", 1)[-1]
            if not last[:1].isupper() and not resolved.startswith(T.MODE_DEPENDENT_FACTORIES):
                return None
            value = self.call(call, 1)
            if value.kind is Kind.MODULE:
                return value.module
            return ModuleInfo(resolved, mode_dependent=None) if value.kind is Kind.UNKNOWN else None
        if isinstance(call.func, cst.Name) and call.func.value[:1].isupper():
            value = self.local_call(call, call.func.value, 1)
            if value.kind is Kind.MODULE:
                return value.module
        return None


def _hugging_face_loaded(resolved: str) -> Literal["model", "preprocessor"] | None:
    """What ``transformers.<Class>.from_pretrained`` loads: a torch model
    (``AutoModelForCausalLM``; not the TensorFlow / Flax classes), or a tokenizer, configuration,
    processor or feature extractor, which is no model."""
    if not resolved.endswith(".from_pretrained") or not resolved.startswith("transformers."):
        return None
    cls = resolved.split(".")[1]
    if cls.endswith(("Tokenizer", "TokenizerFast", "Config", "Processor", "FeatureExtractor", "ImageProcessor")):
        return "preprocessor"
    return None if cls.startswith(("TF", "Flax")) else "model"


def _mode_set_by(call: cst.Call) -> Literal["eval", "train"] | None:
    """``"eval"`` for ``m.eval()`` and ``m.train(False)``, ``"train"`` for ``m.train()``."""
    method = call.func.attr.value if isinstance(call.func, cst.Attribute) else None
    if method == "eval":
        return "eval"
    if method == "train":
        flag = call.args[0].value if call.args else None
        if isinstance(flag, cst.Name) and flag.value == "False":
            return "eval"
        return "train" if flag is None or (isinstance(flag, cst.Name) and flag.value == "True") else None
    return None


def _with_mode(value: Value, mode: Literal["eval", "train"]) -> Value:
    return replace(value, mode=mode)


def _returns_tensor(call: cst.Call, resolved: str) -> bool:
    """Whether the torch function ``resolved`` returns a tensor, as the catalogue says: its
    tensor functions, ``torch.max(x)`` without a dim (with one it is a ``(values, indices)``
    pair), and the functional API."""
    last = resolved.rsplit(".", 1)[-1]
    if resolved == f"torch.{last}" and last in T.VALUES_INDICES:
        return len(call.args) == 1 and not call.args[0].keyword and not call.args[0].star
    return resolved in T.TENSOR_FUNCTIONS or resolved.startswith("torch.nn.functional.") and last[:1].islower()


def _tensor_method(call: cst.Call, method: str, receiver: Value) -> Value:
    """What a method of a tensor returns: a tensor for the catalogue's tensor methods and in-place
    ones (they return their receiver), ``x.max()`` without a dim; an array for ``.numpy()``;
    unknown otherwise (``.item()``, ``.tolist()``, ``.size()``, a ``(values, indices)`` pair)."""
    if method in T.TENSOR_METHODS or is_in_place(method):
        return Value(Kind.TENSOR, receiver.framework)
    if method in T.VALUES_INDICES:
        return Value(Kind.TENSOR, receiver.framework) if not call.args else UNKNOWN
    if method == "numpy" and receiver.is_torch:
        return Value(Kind.NDARRAY, Framework.NUMPY)
    return UNKNOWN


def _parameters(position: int | None) -> Value:
    """``m.parameters()`` (each item a parameter), ``m.named_parameters()`` (``(name, parameter)``)."""
    if position is None:
        return Value(Kind.SEQUENCE, Framework.TORCH, element=_TORCH_PARAMETER)
    items = [UNKNOWN, UNKNOWN]
    items[position] = _TORCH_PARAMETER
    return Value(Kind.SEQUENCE, Framework.TORCH, element=Value(Kind.SEQUENCE, items=tuple(items)))


def _localised(value: Value, origin: FileContext, qualified: str) -> Value:
    """A value computed in another file, its evidence rendered there (its nodes are not ours)."""
    def moved(evidence: Evidence | None) -> Evidence | None:
        if evidence is None or evidence.node is None:
            return evidence
        return Evidence(f"{evidence.render(origin)} of {os.path.relpath(origin.path)}")

    module = value.module
    if module is not None:
        module = ModuleInfo(module.qualified or qualified, None, module.mode_dependent, moved(module.evidence),
                            module.unless_zero, module.otherwise)
    split = value.split
    if split is not None:
        split = Split(split.name, moved(split.evidence) or split.evidence)
    element = _localised(value.element, origin, qualified) if value.element is not None else None
    items = tuple(_localised(v, origin, qualified) for v in value.items) if value.items is not None else None
    return replace(value, module=module, split=split, cls=None, origin=None, element=element, items=items)


def _combine(qualified: str | None, parts: list[ModuleInfo | None], cls: cst.ClassDef | None = None) -> ModuleInfo:
    """A module made of ``parts``: mode-dependent if one is (only through dropout rates of the
    constructor when every such part is), mode-free if all known parts are."""
    dependent = [part for part in parts if part is not None and part.mode_dependent]
    rest = [part for part in parts if part is None or not part.mode_dependent]
    rest_known = not any(part is None or part.mode_dependent is None for part in rest)
    for part in dependent:
        if not part.unless_zero:
            return ModuleInfo(qualified, cls, True, part.evidence)
    if dependent:
        unless_zero = frozenset().union(*(part.unless_zero for part in dependent))
        otherwise = False if rest_known and all(part.otherwise is False for part in dependent) else None
        return ModuleInfo(qualified, cls, True, dependent[0].evidence, unless_zero, otherwise)
    return ModuleInfo(qualified, cls, False if rest_known else None)


def _init_of(context: FileContext, cls: cst.ClassDef) -> cst.FunctionDef | None:
    """The ``__init__`` that building ``cls`` runs: its own, else the first of its bases (defined
    in ``context``'s file) that has one."""
    from dlsan.lint.analysis.functions import file_index

    index = file_index(context)
    seen: set[str] = set()
    pending = [cls]
    while pending:
        current = pending.pop(0)
        init = index.methods.get(current.name.value, {}).get("__init__")
        if init is not None:
            return init
        seen.add(current.name.value)
        pending.extend(base for base in (index.classes.get(dotted_name(b.value) or "") for b in current.bases)
                       if base is not None and base.name.value not in seen)
    return None


def _inherited_methods(context: FileContext, cls: cst.ClassDef) -> set[str]:
    """Names of the methods ``cls`` gets from its bases defined in this file."""
    from dlsan.lint.analysis.functions import file_index

    index = file_index(context)
    found: set[str] = set()
    pending = [dotted_name(base.value) or "" for base in cls.bases]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        base = index.classes.get(name)
        if base is None or name in seen:
            continue
        seen.add(name)
        found |= set(index.methods.get(name, {}))
        pending.extend(dotted_name(b.value) or "" for b in base.bases)
    return found


def _called_attributes(context: FileContext, cls: cst.ClassDef) -> set[str]:
    """``x`` for every ``self.x(...)`` and ``for m in self.x`` in the class: the attributes that run."""
    found: set[str] = set()
    stack: list[cst.CSTNode] = [cls]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            target = node.func
            while isinstance(target, cst.Subscript):
                target = target.value
            name = dotted_name(target)
            if name and name.startswith("self.") and name.count(".") == 1:
                found.add(name[5:])
        elif isinstance(node, (cst.For, cst.CompFor)):
            name = dotted_name(node.iter)
            if name and name.startswith("self."):
                found.add(name.split(".")[1])
        stack.extend(children(node))
    return found


def _split_by_position(index: int, count: int | None) -> SplitName | None:
    """``train, val = random_split(ds, [a, b])``; with three parts, train / validation / test."""
    if count == 2:
        return "train" if index == 0 else "validation"
    if count == 3:
        parts: tuple[SplitName, ...] = ("train", "validation", "test")
        return parts[index] if index < 3 else None
    return None


def _literal(expr: cst.BaseExpression) -> object | None:
    number = numeric_value(expr)
    if number is not None:
        return number
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value == "True"
    return None


def _annotation_expr(expr: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(expr, cst.SimpleString):
        try:
            parsed = cst.parse_expression(str(expr.evaluated_value))
        except cst.ParserSyntaxError:
            return expr
        return parsed
    return expr


__all__ = ["UNKNOWN", "Evidence", "Kind", "ModuleInfo", "Split", "Value", "file_frameworks", "join", "may_use_torch", "module_info", "value_of"]
