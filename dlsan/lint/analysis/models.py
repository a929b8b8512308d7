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

import libcst as cst

from dlsan.lint.analysis.functions import file_index, is_module_class
from dlsan.lint.context import FileContext
from dlsan.lint.names import dotted_name

_MODEL_NAME = re.compile(
    r"model|net$|^net|network|classifier|backbone|encoder|decoder|generator|discriminator|"
    r"^(gen|disc|teacher|student|critic|actor|policy|vae|autoencoder)$",
    re.IGNORECASE,
)
_NOT_A_MODEL_NAME = re.compile(
    r"(_fn|_func|loss|criterion|optimizer|opt|path|dir|name|config|cfg|type|args|kwargs|cls|class|"
    r"factory|builder|fn|func)$|^(get|build|create|make|load|init|setup|save|export|train|evaluate|"
    r"eval|test|validate|run)_",
    re.IGNORECASE,
)
_LOSS_NAME = re.compile(r"loss|criterion|criteria", re.IGNORECASE)
_NOT_A_LOSS_NAME = re.compile(r"(weight|weights|scale|scaler|meter|history|log|logger|tracker)$",
                              re.IGNORECASE)
_FUNCTIONAL_LOSSES = frozenset({
    "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "nll_loss",
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div", "poisson_nll_loss",
    "gaussian_nll_loss", "cosine_embedding_loss", "ctc_loss", "hinge_embedding_loss",
    "margin_ranking_loss", "multi_margin_loss", "multilabel_margin_loss",
    "multilabel_soft_margin_loss", "soft_margin_loss", "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
})
_MODEL_FACTORIES = ("torchvision.models.", "timm.create_model", "transformers.")
_CHAIN_METHODS = frozenset({"to", "cuda", "cpu", "eval", "train", "half", "float", "double",
                            "requires_grad_", "bfloat16"})


def is_self_call(call: cst.Call) -> bool:
    return isinstance(call.func, cst.Name) and call.func.value == "self"


def _constructed_module(context: FileContext, value: cst.BaseExpression) -> bool:
    """``Net()``, ``nn.Sequential(...)``, ``resnet18(...).to(device)``: a module constructor."""
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
            and value.func.attr.value in _CHAIN_METHODS:
        value = value.func.value
    if not isinstance(value, cst.Call):
        return False
    resolved = context.names.resolve(value.func)
    if resolved is not None:
        if resolved.startswith("torch.nn.") and not resolved.startswith("torch.nn.functional."):
            return not _LOSS_NAME.search(resolved.rsplit(".", 1)[-1])
        return resolved.startswith(_MODEL_FACTORIES)
    if isinstance(value.func, cst.Name):
        cls = file_index(context).classes.get(value.func.value)
        return cls is not None and is_module_class(context, cls)
    return False


def module_bindings(context: FileContext) -> frozenset[str]:
    """Dotted names assigned a module constructor anywhere in the file (``model = Net()``,
    ``self.encoder = nn.LSTM(...)``)."""

    def compute() -> frozenset[str]:
        from dlsan.lint.analysis.nodes import nodes_in

        found = set()
        for node in nodes_in(context, context.module):
            if isinstance(node, cst.Assign) and _constructed_module(context, node.value):
                for target in node.targets:
                    name = dotted_name(target.target)
                    if name is not None:
                        found.add(name)
        return frozenset(found)

    return context.fact("module_bindings", compute)


def model_name(context: FileContext, call: cst.Call) -> str | None:
    """The dotted name of the model ``call`` runs (``"model"``, ``"self.net"``), else ``None``."""
    name = dotted_name(call.func)
    if name is None or name == "self":
        return None
    last = name.rsplit(".", 1)[-1]
    if "." not in name and last in file_index(context).functions:
        return None
    if name in module_bindings(context):
        return name
    if _MODEL_NAME.search(last) and not _NOT_A_MODEL_NAME.search(last):
        if context.names.resolve(call.func) is not None:  # an imported function, e.g. `build_model`
            return None
        return name
    return None


def is_loss_call(context: FileContext, call: cst.Call) -> bool:
    """``F.cross_entropy(...)``, ``criterion(out, y)``, ``self.loss_fn(...)``, ``nn.MSELoss()(a, b)``."""
    func = call.func
    if isinstance(func, cst.Call):  # nn.MSELoss()(pred, target)
        resolved = context.names.resolve(func.func)
        return resolved is not None and resolved.startswith("torch.nn.") and resolved.endswith("Loss")
    resolved = context.names.resolve(func)
    if resolved is not None:
        if resolved.startswith("torch.nn.functional."):
            return resolved.rsplit(".", 1)[-1] in _FUNCTIONAL_LOSSES
        if not resolved.startswith("torch."):
            return False
    name = dotted_name(func)
    if name is None:
        return False
    last = name.rsplit(".", 1)[-1]
    return bool(_LOSS_NAME.search(last)) and not _NOT_A_LOSS_NAME.search(last)
