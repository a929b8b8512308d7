from __future__ import annotations

import difflib

import libcst as cst

from dlsan.lint.calls import positional_args
from dlsan.lint.rule import FixSpec, Invalid, Replace, Rule, Valid
from dlsan.lint.semantic.values import is_parameter, is_torch_tensor

_RIGHT = "requires_grad"
#: how close a name must be to `requires_grad` to be a misspelling of it (`require_grad`: 0.96)
_SIMILARITY = 0.85


def is_misspelling(attribute: str) -> bool:
    """``require_grad``, ``requires_grads``, ``requires_gradient``, ``requires_grad_`` (assigning over
    the method), ``reqires_grad``: close to ``requires_grad`` without being it."""
    if attribute == _RIGHT:
        return False
    return attribute == _RIGHT + "_" or difflib.SequenceMatcher(None, attribute, _RIGHT).ratio() >= _SIMILARITY


def _is_false(value: cst.BaseExpression) -> bool:
    return isinstance(value, cst.Name) and value.value == "False"


class RequiresGradTypo(Rule):
    """
    ## What it does
    Flags an assignment to a misspelling of `requires_grad` (`require_grad`, `requires_grads`,
    `requires_gradient`, `requires_grad_`, ...) on a parameter (a `for p in model.parameters()`
    target, an `nn.Parameter`), and a misspelt `= True` on any value known to be a tensor (built
    by torch, annotated `torch.Tensor`). A misspelt `= False` on a plain tensor is left alone: its
    `requires_grad` is already `False`, so the typo changes nothing (real code does this to
    positional-encoding buffers and masks). So is a misspelt `= True` on a tensor later wrapped in
    `nn.Parameter(...)`, which asks for gradients itself.

    ## Why is this bad?
    Tensors accept any new attribute, so the misspelt assignment silently creates one and freezes
    or unfreezes nothing: the "frozen" backbone keeps training (and its optimizer state and
    memory), or the layers meant to be fine-tuned never get gradients. Nothing fails.

    ## Example
    ```python
    for p in model.backbone.parameters():
        p.require_grad = False
    ```

    ## Use instead
    ```python
    for p in model.backbone.parameters():
        p.requires_grad = False        # or model.backbone.requires_grad_(False)
    ```

    ## Fix safety
    Unsafe: the fix renames the attribute to `requires_grad`, which changes what trains (that is
    the point, but the run's results change with it).
    """

    code = "DLS605"
    name = "requires-grad-typo"
    message = (
        "`.{typo}` is not `requires_grad`: the assignment creates a new attribute and freezes or "
        "unfreezes nothing; write `.requires_grad = ...` (or call `.requires_grad_(...)`)"
    )

    VALID = [
        Valid("import torch\nfor p in model.parameters():\n    p.requires_grad = False\n"),
        Valid("import torch\nfor p in model.parameters():\n    p.requires_grad_(False)\n"),
        Valid("import torch\nclass Cfg:\n    pass\ncfg = Cfg()\ncfg.require_grad = True\n"),
        Valid("import torch\ndef freeze(layer):\n    layer.require_grad = False\n"),
        Valid("import torch\nx = torch.zeros(3)\nx.requires_grad = True\n"),
        Valid("import torch\nfor name, p in model.named_parameters():\n    name.require_grad = False\n"),
        Valid("import torch\nfor p in model.parameters():\n    pass\np = Holder()\np.require_grad = False\n"),
        Valid("import torch\nw = torch.randn(3)\nw.grad_required = True\n"),
        # codertimo/BERT-pytorch-style PositionalEmbedding: a fresh tensor's requires_grad is already False
        Valid("import torch\npe = torch.zeros(max_len, d_model).float()\npe.require_grad = False\n"),
        Valid("import torch\nclass Net(torch.nn.Module):\n    def __init__(self, require_grad):\n"
              "        super().__init__()\n        self.require_grad = require_grad\n"),
        # a class token of a public encoder (search-index file 31085407792): nn.Parameter turns it on
        Valid("import torch\nfrom torch import nn\ntok = torch.zeros(1, 1, d).cuda()\ntok.require_grad = True\n"
              "cls_token = nn.Parameter(tok)\n"),
    ]
    INVALID = [
        Invalid("import torch\nfor p in model.parameters():\n    p.require_grad = False\n", line=3,
                fixed="import torch\nfor p in model.parameters():\n    p.requires_grad = False\n"),
        Invalid("import torch\nfor name, param in model.named_parameters():\n    if 'fc' not in name:\n"
                "        param.requires_grads = False\n", line=4),
        Invalid("import torch\nw = torch.randn(10, 5)\nw.requires_gradient = True\n", line=3),
        Invalid("import torch\nfor p in net.encoder.parameters():\n    p.requires_grad_ = False\n", line=3),
        Invalid("from torch import nn\nimport torch\nbias = nn.Parameter(torch.zeros(4))\nbias.require_grad = False\n",
                line=4),
        Invalid("import torch\ndef unfreeze(t: torch.Tensor):\n    t.reqires_grad = True\n", line=3),
        Invalid("import torch\nfor param in self.bert.parameters():\n    param.require_grad = False\n", line=3),
        Invalid("import torch\nx = torch.ones(2, 2).cuda()\nx.require_grad = True\n", line=3),
        Invalid("import torch\nfor p in model.parameters(): p.requiers_grad = False\n", line=2),
    ]

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check(target.target, node.value)

    def _check(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if not isinstance(target, cst.Attribute) or not is_misspelling(target.attr.value):
            return
        if not is_parameter(self.context, target.value):
            # a plain tensor already has requires_grad=False: only asking for gradients matters
            if _is_false(value) or not is_torch_tensor(self.context, target.value) or self._made_parameter(target):
                return
        fix = FixSpec("Rename to `requires_grad`", [Replace(target.attr, _RIGHT)])
        self.report(target, self.message.format(typo=target.attr.value), fix=fix)

    def _made_parameter(self, target: cst.Attribute) -> bool:
        """Whether the tensor is later passed to ``nn.Parameter(...)``, which sets ``requires_grad``
        itself: the typo then changes nothing."""
        if not isinstance(target.value, cst.Name):
            return False
        flow = self.context.semantic.binding_function(self.context.ancestors).frame
        start = flow.position(target)
        parent_of = self.context.semantic.parent
        for read in flow.reads.get(target.value.value, []):
            if flow.position(read) <= start:
                continue
            arg = parent_of(read)
            call = parent_of(arg) if isinstance(arg, cst.Arg) else None
            if isinstance(call, cst.Call) and is_parameter(self.context, call) \
                    and any(a.value is read for a in positional_args(call)[:1]):
                return True
        return False
