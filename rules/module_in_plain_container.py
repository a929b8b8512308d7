from __future__ import annotations

from typing import Union, cast

import libcst as cst

from dlsan.lint.analysis.functions import file_index, is_module_class
from dlsan.lint.analysis.nodes import method_name, nodes_in, receiver
from dlsan.lint.catalog.torch_api import SELF_RETURNING
from dlsan.lint.context import FileContext
from dlsan.lint.rule import (
    EditSpec,
    FixSpec,
    InsertAfter,
    InsertBefore,
    Invalid,
    Replace,
    Rule,
    Valid,
)
from dlsan.lint.semantic.objects import self_attribute
from dlsan.lint.semantic.qualified import torch_names

_NOT_MODULES = frozenset({"Parameter", "UninitializedParameter", "UninitializedBuffer", "Buffer"})
_ADDS_ITEM = frozenset({"append", "extend", "insert"})
_REGISTERS = frozenset({"add_module", "register_module"})
_STRING_KEYS = (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)
#: tested by exact type (the parser builds no subclasses of them): asked of every assignment
_CONTAINER_TYPES = frozenset({cst.List, cst.Tuple, cst.ListComp, cst.Dict, cst.DictComp})
_Container = Union[cst.List, cst.Tuple, cst.ListComp, cst.Dict, cst.DictComp]


def builds_module(context: FileContext, expr: cst.BaseExpression) -> bool:
    """Whether ``expr`` constructs an ``nn.Module``: ``nn.Linear(...)`` (known to be torch's where
    it is written: not a Flax ``nn.Dense`` under a local ``from flax import linen as nn``, not a
    ``Dense`` star-imported from Keras as well), a module class of this file, possibly followed by
    ``.to(device)``; names and unknown classes do not count."""
    while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in SELF_RETURNING:
        expr = expr.func.value
    if not isinstance(expr, cst.Call):
        return False
    for name in torch_names(context, expr.func):
        last = name.rsplit(".", 1)[-1]
        if name.startswith("torch.nn.") and last[:1].isupper() and last not in _NOT_MODULES and ".functional" not in name:
            return True
    if isinstance(expr.func, cst.Name):
        cls = file_index(context).classes.get(expr.func.value)
        return cls is not None and is_module_class(context, cls)
    return False


class ModuleInPlainContainer(Rule):
    """
    ## What it does
    Flags sub-modules of an `nn.Module` kept in a plain `list`, `dict` or `tuple` attribute:
    `self.blocks = [Block() for _ in range(n)]`, `self.heads = {"a": nn.Linear(...)}`, or
    `self.layers = []` followed by `self.layers.append(nn.Conv2d(...))`.

    The layers must be known to be torch's where they are built: a Flax, Haiku or Keras model
    keeping its layers in a list (which those frameworks track) is left alone, also in a file that
    imports torch.

    ## Why is this bad?
    `nn.Module` registers only sub-modules assigned directly or held in `nn.ModuleList` /
    `nn.ModuleDict`. Modules in a plain container are invisible: their parameters are missing from
    `model.parameters()` (so the optimizer never trains them), `model.to(device)` leaves them on
    the CPU, `model.eval()` does not reach their dropout/batch norm, and `state_dict()` does not
    save them. Nothing fails until a device mismatch, or the model silently does not learn.

    ## Example
    ```python
    class Encoder(nn.Module):
        def __init__(self, depth):
            super().__init__()
            self.blocks = [Block(256) for _ in range(depth)]
    ```

    ## Use instead
    ```python
    class Encoder(nn.Module):
        def __init__(self, depth):
            super().__init__()
            self.blocks = nn.ModuleList([Block(256) for _ in range(depth)])
    ```

    ## Fix safety
    Unsafe: wrapping in `nn.ModuleList` / `nn.ModuleDict` registers the modules, which adds their
    parameters to `state_dict()` under new keys (old checkpoints no longer load strictly) and to
    `parameters()` (the optimizer now trains them).
    """

    code = "DLS601"
    name = "module-in-plain-container"
    message = (
        "sub-modules in a plain {kind} attribute are not registered: their parameters are not "
        "trained, moved by `.to()` or saved; use `nn.{wrapper}`"
    )
    requires = ("torch",)

    VALID = [
        Valid("""
            import torch.nn as nn
            class MLP(nn.Module):
                def __init__(self, sizes):
                    super().__init__()
                    layers = []
                    for a, b in zip(sizes, sizes[1:]):
                        layers.append(nn.Linear(a, b))
                        layers.append(nn.ReLU())
                    self.net = nn.Sequential(*layers)
        """),
        Valid("""
            import torch.nn as nn
            class Backbone(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.stages = nn.ModuleList([Stage(c) for c in (64, 128, 256)])
                    self.feature_info = [dict(num_chs=c, reduction=r) for c, r in ((64, 4), (128, 8))]
        """),
        Valid("""
            import torch.nn as nn
            class Heads(nn.Module):
                def __init__(self, tasks):
                    super().__init__()
                    self.heads = nn.ModuleDict({t: nn.Linear(512, n) for t, n in tasks.items()})
                    self.task_names = list(tasks)
        """),
        Valid("""
            import torch.nn as nn
            class Trainer:
                def __init__(self):
                    self.models = [nn.Linear(10, 1), nn.Linear(10, 1)]
        """),
        Valid("""
            import torch.nn as nn
            class Distiller(nn.Module):
                def __init__(self, student, teacher):
                    super().__init__()
                    self.student = student
                    self._teacher = [teacher]
        """),
        Valid("""
            import torch.nn as nn
            class UNet(nn.Module):
                def __init__(self, chans):
                    super().__init__()
                    self.down = []
                    for c in chans:
                        self.down.append(nn.Conv2d(c, c * 2, 3))
                    self.down = nn.ModuleList(self.down)
        """),
        Valid("""
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = [nn.Linear(8, 8), nn.ReLU()]
                    self.body = nn.Sequential(*self.layers)
        """),
        Valid("""
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.kernel_sizes = [3, 5, 7]
                    self.names = ("conv", "bn")
                    self.cache = {}
                    self.hooks = []
                def register(self, module):
                    self.hooks.append(module.register_forward_hook(self.save))
        """),
        Valid("""
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.blocks = [nn.Linear(4, 4) for _ in range(3)]
                    for i, block in enumerate(self.blocks):
                        self.add_module(f"block{i}", block)
        """),
        # other frameworks' models keep layers in lists (Flax, Haiku and Keras track them) in torch files
        Valid("""
            import torch
            import haiku as hk
            import tensorflow as tf

            class Head(hk.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = [hk.Linear(64), hk.Linear(10)]

            class KerasHead(tf.keras.Model):
                def __init__(self):
                    super().__init__()
                    self.blocks = [tf.keras.layers.Dense(64) for _ in range(3)]
        """),
        Valid("""
            from flax import linen as nn

            def torch_reference():
                import torch.nn as nn
                return nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))

            class MLP(nn.Module):
                def setup(self):
                    self.layers = [nn.Dense(8), nn.Dense(1)]
        """),
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn as nn
            class Encoder(nn.Module):
                def __init__(self, depth):
                    super().__init__()
                    self.blocks = [nn.TransformerEncoderLayer(256, 8) for _ in range(depth)]
            """,
            line=5,
            fixed="""
            import torch.nn as nn
            class Encoder(nn.Module):
                def __init__(self, depth):
                    super().__init__()
                    self.blocks = nn.ModuleList([nn.TransformerEncoderLayer(256, 8) for _ in range(depth)])
            """,
        ),
        Invalid(
            """
            import torch
            class MultiTask(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.heads = {"cls": torch.nn.Linear(512, 10), "box": torch.nn.Linear(512, 4)}
            """,
            line=5,
            fixed="""
            import torch
            class MultiTask(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.heads = torch.nn.ModuleDict({"cls": torch.nn.Linear(512, 10), "box": torch.nn.Linear(512, 4)})
            """,
        ),
        Invalid(
            """
            from torch import nn
            class ConvNet(nn.Module):
                def __init__(self, channels):
                    super().__init__()
                    self.convs = []
                    for cin, cout in zip(channels, channels[1:]):
                        self.convs.append(nn.Conv2d(cin, cout, 3, padding=1))
            """,
            line=5,
            fixed="""
            from torch import nn
            class ConvNet(nn.Module):
                def __init__(self, channels):
                    super().__init__()
                    self.convs = nn.ModuleList()
                    for cin, cout in zip(channels, channels[1:]):
                        self.convs.append(nn.Conv2d(cin, cout, 3, padding=1))
            """,
        ),
        Invalid(
            """
            import torch.nn as nn
            class Block(nn.Module):
                pass
            class Stack(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.blocks = (Block(), Block())
            """,
            line=7,
            fixed="""
            import torch.nn as nn
            class Block(nn.Module):
                pass
            class Stack(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.blocks = nn.ModuleList([Block(), Block()])
            """,
        ),
        Invalid("""
            import torch.nn as nn
            class Ensemble(nn.Module):
                def __init__(self, n):
                    super().__init__()
                    self.members = {i: nn.Linear(16, 2) for i in range(n)}
        """, line=5),
        Invalid("""
            import pytorch_lightning as pl
            import torch.nn as nn
            class Adapter(pl.LightningModule):
                def setup(self, stage):
                    self.adapters = {}
                    for name in self.hparams.tasks:
                        self.adapters[name] = nn.Linear(768, 768).to(self.device)
        """, line=5),
        Invalid("""
            import torch.nn as nn
            class Base(nn.Module):
                pass
            class Pyramid(Base):
                def __init__(self, levels):
                    super().__init__()
                    self.lateral = [nn.Conv2d(c, 256, 1) for c in levels]
                    self.output = [nn.Conv2d(256, 256, 3, padding=1) for _ in levels]
        """, line=7),
        Invalid("""
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = [nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)]

                def forward(self, x):
                    for layer in self.layers:
                        x = layer(x)
                    return x
        """, line=5),
    ]

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1 or type(node.value) not in _CONTAINER_TYPES:
            return
        attr = self_attribute(node.targets[0].target)
        if attr is None:
            return
        cls = self.context.enclosing(cst.ClassDef)
        if cls is None or not is_module_class(self.context, cls):
            return
        value = cast(_Container, node.value)  # one of _CONTAINER_TYPES
        if not self._holds_modules(cls, attr, value) or self._registered_elsewhere(cls, attr, node):
            return
        is_dict = isinstance(value, (cst.Dict, cst.DictComp))
        wrapper = "ModuleDict" if is_dict else "ModuleList"
        message = self.message.format(kind="dict" if is_dict else "list", wrapper=wrapper)
        self.report(value, message, fix=self._fix(cls, attr, value, wrapper))

    def _holds_modules(self, cls: cst.ClassDef, attr: str, value: _Container) -> bool:
        if isinstance(value, (cst.ListComp, cst.DictComp)):
            return builds_module(self.context, value.elt if isinstance(value, cst.ListComp) else value.value)
        if isinstance(value, cst.Dict):
            items = [e.value for e in value.elements if isinstance(e, cst.DictElement)]
        else:
            items = [e.value for e in value.elements if isinstance(e, cst.Element)]
        if items:
            return any(builds_module(self.context, item) for item in items)
        return any(builds_module(self.context, added) for added, _ in self._added_later(cls, attr))

    def _added_later(self, cls: cst.ClassDef, attr: str) -> list[tuple[cst.BaseExpression, cst.BaseExpression | None]]:
        """Values put into ``self.<attr>`` by ``append``/``extend``/``insert`` or ``self.<attr>[k] = v``
        (with the key, for subscripts)."""
        found: list[tuple[cst.BaseExpression, cst.BaseExpression | None]] = []
        for node in nodes_in(self.context, cls):
            if isinstance(node, cst.Call) and method_name(node) in _ADDS_ITEM and node.args:
                if self_attribute(receiver(node)) == attr:
                    found.append((node.args[-1].value, None))
            elif isinstance(node, cst.Assign):
                for target in node.targets:
                    t = target.target
                    if (isinstance(t, cst.Subscript) and self_attribute(t.value) == attr and len(t.slice) == 1
                            and isinstance(t.slice[0].slice, cst.Index)):
                        found.append((node.value, t.slice[0].slice.value))
        return found

    def _registered_elsewhere(self, cls: cst.ClassDef, attr: str, assignment: cst.Assign) -> bool:
        """``self.<attr>`` reassigned (``nn.ModuleList(self.<attr>)``), passed to an ``nn``
        container (``nn.Sequential(*self.<attr>)``), or the class registers modules itself."""
        for node in nodes_in(self.context, cls):
            if isinstance(node, cst.Assign) and node is not assignment:
                if any(self_attribute(t.target) == attr for t in node.targets):
                    return True
            elif isinstance(node, cst.Call):
                if method_name(node) in _REGISTERS:
                    return True
                resolved = self.context.names.resolve(node.func) or ""
                if resolved.startswith("torch.nn.") and any(self_attribute(a.value) == attr for a in node.args):
                    return True
        return False

    def _fix(self, cls: cst.ClassDef, attr: str, value: _Container, wrapper: str) -> FixSpec | None:
        """Wrap the container in place (its text, comments and layout kept)."""
        prefix = self._nn_prefix(wrapper, value)
        if prefix is None:
            return None
        if isinstance(value, (cst.Dict, cst.DictComp)) and not self._string_keys(cls, attr, value):
            return None
        opening = f"{prefix}{wrapper}("
        edits: list[EditSpec]
        if isinstance(value, (cst.List, cst.Dict)) and not value.elements:
            edits = [Replace(value, f"{opening})")]
        elif isinstance(value, cst.Tuple) and value.lpar:
            edits = [Replace(value.lpar[0], f"{opening}["), Replace(value.rpar[-1], "])")]
        elif isinstance(value, cst.Tuple):
            edits = [InsertBefore(value, f"{opening}["), InsertAfter(value, "])")]
        else:
            edits = [InsertBefore(value, opening), InsertAfter(value, ")")]
        return FixSpec(f"Wrap in `{wrapper}`", edits)

    def _nn_prefix(self, wrapper: str, at: cst.CSTNode) -> str | None:
        """How ``torch.nn.<wrapper>`` is spelled where ``at`` is: ``nn.``, ``torch.nn.`` or bare."""
        names = self.context.names
        if names.bound_at("nn", at) == "torch.nn":
            return "nn."
        if names.bound_at("torch", at) == "torch":
            return "torch.nn."
        if names.bound_at(wrapper, at) == f"torch.nn.{wrapper}":
            return ""
        return None

    def _string_keys(self, cls: cst.ClassDef, attr: str, value: cst.Dict | cst.DictComp) -> bool:
        if isinstance(value, cst.DictComp):
            return isinstance(value.key, _STRING_KEYS)
        if value.elements:
            return all(isinstance(e, cst.DictElement) and isinstance(e.key, _STRING_KEYS) for e in value.elements)
        keys = [key for _, key in self._added_later(cls, attr)]
        return all(key is not None and not isinstance(key, (cst.Integer, cst.Float)) for key in keys)
