from __future__ import annotations

import libcst as cst

from dlsan.lint.rule import FixSpec, InsertAfter, Invalid, Rule, Valid

#: methods that only act when called; as bare attributes they are no-ops
_ACTIONS = frozenset({"eval", "train", "zero_grad", "step", "backward"})


class MethodNotCalled(Rule):
    """
    ## What it does
    Flags `model.eval`, `model.train`, `optimizer.zero_grad`, `optimizer.step`, `loss.backward`
    and `scheduler.step` written as a statement without the call parentheses.

    ## Why is this bad?
    A bare attribute is an expression that looks the method up and throws it away: the model
    stays in training mode, the gradients are never cleared or never computed, the weights never
    move. Python raises nothing, and the training loop runs on.

    ## Example
    ```python
    model.eval
    with torch.no_grad():
        accuracy = evaluate(model, val_loader)
    ```

    ## Use instead
    ```python
    model.eval()
    ```

    ## Fix safety
    Unsafe: adding `()` makes the method run, which changes what the program does (that is the
    point, but results change with it).
    """

    code = "DLS304"
    name = "method-not-called"
    message = (
        "`{expr}` without `()` only looks the method up and does nothing, so {effect}; call it: "
        "`{expr}()`"
    )
    VALID = [
        Valid("import torch\nmodel.eval()\n"),
        Valid("import torch\nloss.backward()\noptimizer.step()\noptimizer.zero_grad()\n"),
        Valid("import torch\nfn = model.eval\nfn()\n"),
        Valid("import torch\nhooks = [opt.step for opt in optimizers]\n"),
        Valid("import torch\nif model.training:\n    pass\n"),
        Valid("import torch\nmodel.train(False)\n"),
        Valid("import torch\ncallbacks = {'eval': model.eval}\nx = scheduler.step\n"),
        Valid("import torch\nself.step_count\n"),
        Valid("model.eval\n"),
    ]
    INVALID = [
        Invalid("import torch\nmodel.eval\n", line=2, fixed="import torch\nmodel.eval()\n"),
        Invalid("import torch\nfor x, y in loader:\n    optimizer.zero_grad\n    loss = crit(model(x), y)\n"
                "    loss.backward()\n    optimizer.step()\n", line=3),
        Invalid("import torch\nloss.backward\n", line=2),
        Invalid("import torch\nself.model.train\n", line=2),
        Invalid("import torch\nopt.step\n", line=2),
        Invalid("import torch\nscheduler.step\n", line=2),
        Invalid("import torch\ndef validate(net):\n    net.eval\n    return net(x)\n", line=3),
        Invalid("import torch\nmodel.module.eval  # switch off dropout\n", line=2,
                fixed="import torch\nmodel.module.eval()  # switch off dropout\n"),
    ]

    _EFFECTS = {
        "eval": "the model stays in training mode (dropout and batch-norm statistics stay on)",
        "train": "the model stays in evaluation mode",
        "zero_grad": "gradients accumulate across steps",
        "step": "nothing is updated",
        "backward": "no gradients are computed",
    }

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if not isinstance(value, cst.Attribute) or value.attr.value not in _ACTIONS or value.lpar:
            return
        expr = self.context.code(value)
        message = self.message.format(expr=expr, effect=self._EFFECTS[value.attr.value])
        self.report(node, message, fix=FixSpec("Call the method", [InsertAfter(value, "()")]))
