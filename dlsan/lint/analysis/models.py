"""Which calls run a model (an ``nn.Module``), and which compute a loss.

Types are unknown to a linter, so a call runs a model when its callee is

* bound in this file to a module constructor: a class of this file that subclasses ``nn.Module``,
  anything under ``torch.nn`` (``nn.Sequential(...)``, ``nn.Linear(...)``), ``torchvision.models``
  or ``timm.create_model``, possibly followed by ``.to(device)`` / ``.cuda()`` / ``.eval()``; or
* named like a model: ``model``, ``self.model``, ``ema_model``, ``net``, ``resnet``, ``target_net``,
  ``encoder``, ``generator``, ``netD``, ``classifier``, ``backbone``, ``teacher``...

and not a function defined in this file.  ``self(...)`` is reported separately by
:func:`is_self_call`: inside a module's own methods the caller decides the mode.

A call computes a loss when its callee is a ``torch.nn.functional`` loss, an ``nn.*Loss`` instance,
or is named like one (``criterion``, ``loss_fn``, ``self.compute_loss``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import libcst as cst

from dlsan.lint.analysis.functions import called_function, file_index, is_module_class, is_plain_class
from dlsan.lint.analysis.nodes import method_name, receiver
from dlsan.lint.catalog import torch_api as T
from dlsan.lint.context import Fact, FileContext, file_fact
from dlsan.lint.names import dotted_name

#: a model-ish word, as the last ``_``-separated token of a name (``model``, ``ema_model``,
#: ``resnet``, ``netG``, ``target_net``) or followed by one short tag (``model_ddp``, ``net_g``)
_MODEL_WORD = re.compile(
    r"(model|net|network|classifier|backbone|encoder|decoder|generator|discriminator|gen|disc|"
    r"teacher|student|critic|actor|policy|vae|autoencoder|[a-z]*net[a-z]?)\d*",
    re.IGNORECASE,
)
#: short tags after a model word: `model_ddp`, `model_ema`, `net_g`
_MODEL_TAGS = frozenset({"ddp", "fsdp", "dp", "ema", "base", "old", "new", "orig", "copy", "ft",
                         "pt", "fp16", "fp32", "bf16", "cpu", "gpu", "cuda", "swa", "avg", "eval",
                         "train", "ref", "src", "tgt", "student", "teacher", "q", "int8", "ts", "jit"})
_NOT_A_MODEL_NAME = re.compile(
    r"(_fn|_func|loss|criterion|optimizer|opt|path|dir|name|config|cfg|type|args|kwargs|cls|class|"
    r"factory|builder|fn|func)$|^(get|build|create|make|load|init|setup|save|export|train|evaluate|"
    r"eval|test|validate|run)_",
    re.IGNORECASE,
)
_LOSS_NAME = re.compile(r"loss|criterion|criteria", re.IGNORECASE)
_NOT_A_LOSS_NAME = re.compile(r"(weight|weights|scale|scaler|meter|history|log|logger|tracker)$",
                              re.IGNORECASE)


#: methods that run autograd's backward pass on their receiver or argument (see :func:`is_backward_call`)
BACKWARD_METHODS = frozenset({"backward", "manual_backward"})


def is_self_call(call: cst.Call) -> bool:
    return isinstance(call.func, cst.Name) and call.func.value == "self"


def _constructed_module(context: FileContext, value: cst.BaseExpression) -> bool:
    """``Net()``, ``nn.Sequential(...)``, ``resnet18(...).to(device)``: a module constructor."""
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
            and value.func.attr.value in T.SELF_RETURNING:
        value = value.func.value
    if not isinstance(value, cst.Call):
        return False
    resolved = context.names.resolve(value.func)
    if resolved is not None:
        if resolved.startswith("torch.nn.") and not resolved.startswith("torch.nn.functional."):
            return not _LOSS_NAME.search(resolved.rsplit(".", 1)[-1])
        return resolved.startswith(T.MODE_DEPENDENT_FACTORIES)
    if isinstance(value.func, cst.Name):
        cls = file_index(context).classes.get(value.func.value)
        return cls is not None and is_module_class(context, cls)
    return False


def binds_a_module(context: FileContext, name: str) -> bool:
    """Whether the dotted ``name`` is assigned a module constructor anywhere in the file
    (``model = Net()``, ``self.encoder = nn.LSTM(...)``); reads statements only, not expressions.

    Asked per name (the names of the calls that may run a model): resolving the callee of every
    assignment of the file up front was as costly as the rest of these questions together."""
    return _BINDS_A_MODULE.get(context, name, lambda: any(
        _constructed_module(context, value) for value in _assigned_values(context).get(name, ())))


_BINDS_A_MODULE: Fact[str, bool] = Fact("binds a module")


@file_fact
def _assigned_values(context: FileContext) -> dict[str, list[cst.BaseExpression]]:
    """The values each dotted name is assigned by the file's assignment statements."""
    found: dict[str, list[cst.BaseExpression]] = {}
    for statement in _assignments(context.module.body):
        for target in statement.targets:
            name = dotted_name(target.target)
            if name is not None:
                found.setdefault(name, []).append(statement.value)
    return found


def _assignments(body: Sequence[cst.CSTNode]) -> Iterator[cst.Assign]:
    # exact types (every statement of the file): libcst's classes are slow-to-ask ABCs, and the
    # parser builds no subclasses of them
    stack = list(reversed(body))
    while stack:
        statement = stack.pop()
        if type(statement) is cst.SimpleStatementLine:
            yield from (small for small in statement.body if type(small) is cst.Assign)
            continue
        for block in _blocks(statement):
            stack.extend(reversed(block))


#: the kinds of ``cst.BaseSuite``, and the clauses that hold blocks of their own
_SUITE_TYPES = frozenset({cst.IndentedBlock, cst.SimpleStatementSuite})
_CLAUSE_TYPES = frozenset({cst.If, cst.Else, cst.Finally})


def _blocks(statement: cst.CSTNode) -> Iterator[Sequence[cst.CSTNode]]:
    """The statement lists directly inside a compound statement (else/except/finally included)."""
    for name in ("body", "orelse", "handlers", "finalbody"):
        part = getattr(statement, name, None)
        if isinstance(part, (list, tuple)):  # try handlers
            for handler in part:
                yield from _blocks(handler)
        elif type(part) in _SUITE_TYPES and isinstance(getattr(part, "body", None), (list, tuple)):
            yield part.body  # type: ignore[union-attr]
        elif type(part) in _CLAUSE_TYPES:
            yield from _blocks(part)  # type: ignore[arg-type]


def _model_like_name(last: str) -> bool:
    if last[:1].isupper() and not last.isupper() and not last.startswith(("G", "D")):
        return False  # a class: `ResNet(...)` constructs a model, it does not run one
    if _NOT_A_MODEL_NAME.search(last):
        return False
    tokens = [t for t in last.split("_") if t]
    if not tokens:
        return False
    if _MODEL_WORD.fullmatch(tokens[-1]):
        return True
    return len(tokens) >= 2 and _MODEL_WORD.fullmatch(tokens[-2]) is not None and (
        tokens[-1].lower() in _MODEL_TAGS or len(tokens[-1]) == 1 or tokens[-1].isdigit())


#: methods that run the model they are called on (``model.generate(input_ids)``)
_RUNNING_METHODS = frozenset({"generate"})


def run_receiver(call: cst.Call) -> cst.BaseExpression:
    """The expression for the model a run calls: ``model`` of ``model(x)`` and of
    ``model.generate(ids)``."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in _RUNNING_METHODS:
        return func.value
    return func


def model_name(context: FileContext, call: cst.Call) -> str | None:
    """The dotted name of the model ``call`` runs (``"model"``, ``"self.net"``), else ``None``.

    A model is run with inputs: calls without arguments (``solver.model()``) are not model runs,
    and neither are calls of functions or methods defined in this file.  ``model.generate(ids)``
    runs ``model``."""
    receiver = run_receiver(call)
    if receiver is not call.func:
        name = dotted_name(receiver)
        return name if name is not None and call.args and _is_model_name(context, receiver, name) else None
    name = dotted_name(call.func)
    if name is None or name == "self" or not call.args:
        return None
    last = name.rsplit(".", 1)[-1]
    if "." not in name and last in file_index(context).functions:
        return None
    if name.startswith("self.") and name.count(".") == 1 and called_function(
            context, call, context.enclosing(cst.ClassDef)) is not None:
        return None
    return name if _is_model_name(context, call.func, name) else None


def _is_model_name(context: FileContext, expr: cst.BaseExpression, name: str) -> bool:
    """Whether ``expr`` (dotted ``name``) holds a model: bound to a module constructor, named like
    a model, or known by the semantic model to hold a torch module.  Not when the semantic model
    knows it holds an instance of a plain class of the project (``model = LinearRegression(...)``
    with numpy weights): the name says nothing then."""
    last = name.rsplit(".", 1)[-1]
    if binds_a_module(context, name):
        return True
    if context.names.resolve(expr) is not None or holds_plain_object(context, expr):
        return False
    return _model_like_name(last) or (not _LOSS_NAME.search(last) and _holds_a_model(context, expr))


def _holds_a_model(context: FileContext, func: cst.BaseExpression) -> bool:
    """Whether the semantic model knows ``func`` holds a torch module that is not a loss
    (``agent = PPOAgent(...)`` from the project's ``rl/agent.py``)."""
    from dlsan.lint.catalog.torch_api import LOSS_MODULES
    from dlsan.lint.semantic.values import value_of

    value = value_of(context, func)
    return value.is_torch_module and not (value.module is not None and value.module.qualified in LOSS_MODULES)


def is_backward_call(context: FileContext, call: cst.Call) -> bool:
    """``loss.backward()``, ``self.manual_backward(loss)``, ``accelerator.backward(loss)``: not the
    ``backward`` method of an instance of a plain class of the project (a numpy model's
    hand-written ``model.backward(x, y_hat, y)`` in dair-ai/ML-Notebooks), which runs no autograd."""
    if method_name(call) not in BACKWARD_METHODS:
        return False
    target = receiver(call)
    return target is None or not holds_plain_object(context, target)


def holds_plain_object(context: FileContext, expr: cst.BaseExpression) -> bool:
    """Whether the semantic model knows ``expr`` holds an instance of a plain class of the project
    (see :func:`~dlsan.lint.analysis.functions.is_plain_class`): no model, whatever its name, and
    its own methods run no autograd."""
    from dlsan.lint.semantic.values import value_of

    value = value_of(context, expr)
    return value.cls is not None and not value.is_torch_module and is_plain_class(context, value.cls)


def is_loss_call(context: FileContext, call: cst.Call) -> bool:
    """``F.cross_entropy(...)``, ``criterion(out, y)``, ``self.loss_fn(...)``, ``nn.MSELoss()(a, b)``."""
    func = call.func
    if isinstance(func, cst.Call):  # nn.MSELoss()(pred, target)
        resolved = context.names.resolve(func.func)
        return resolved is not None and resolved.startswith("torch.nn.") and resolved.endswith("Loss")
    resolved = context.names.resolve(func)
    if resolved is not None:
        if resolved.startswith("torch.nn.functional."):
            return resolved in T.FUNCTIONAL_LOSSES
        if not resolved.startswith("torch."):
            return False
    name = dotted_name(func)
    if name is None:
        return False
    last = name.rsplit(".", 1)[-1]
    return bool(_LOSS_NAME.search(last)) and not _NOT_A_LOSS_NAME.search(last)
