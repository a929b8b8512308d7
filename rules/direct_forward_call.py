from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.functions import file_index
from dlsan.lint.names import dotted_name
from dlsan.lint.rule import FixSpec, Invalid, Replace, Rule, Valid

#: receivers whose ``.forward(...)`` is a call of the parent implementation or of the class itself
_OWN_RECEIVERS = frozenset({"self", "cls", "super"})


class DirectForwardCall(Rule):
    """
    ## What it does
    Flags `model.forward(x)` called on a module from outside it, instead of `model(x)`.

    `super().forward(...)`, `self.forward(...)` and `ParentClass.forward(self, ...)` are how a module
    calls its own or its parent's implementation and are not flagged, nor is a wrapper's `forward`
    calling `self.module.forward(...)` of the module it wraps (as DDP does on purpose).

    ## Why is this bad?
    `nn.Module.__call__` runs the forward pre-hooks and hooks around `forward`. Calling `forward`
    directly skips all of them: dlsan's sanitizer, profilers, pruning and quantization observers,
    `torch.compile` guards, DDP's and FSDP's gradient synchronisation, and any
    `register_forward_hook` feature extractor silently see nothing.

    ## Example
    ```python
    logits = model.forward(images)
    ```

    ## Use instead
    ```python
    logits = model(images)
    ```

    ## Fix safety
    Safe for modules: `model(x)` calls `forward` with the same arguments, plus the hooks.
    """

    code = "DLS603"
    name = "direct-forward-call"
    message = (
        "calling `.forward()` directly skips the module's hooks (sanitizer, AMP/profiler/quantization "
        "hooks, DDP gradient sync); call the module instead: `{receiver}(...)`"
    )
    fix_applicability = "safe"
    requires = ("forward",)

    VALID = [
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return super().forward(x) * 2
        """),
        Valid("""
            class Wrapper(nn.Module):
                def __call__(self, x):
                    return self.forward(x)
        """),
        Valid("""
            class Residual(Block):
                def forward(self, x):
                    return x + Block.forward(self, x)
        """),
        Valid("""
            class Legacy(nn.Linear):
                def forward(self, x):
                    return super(Legacy, self).forward(x).relu()
        """),
        Valid("""
            for x, y in loader:
                logits = model(x)
        """),
        Valid("""
            original_forward = model.forward
            model.forward = patched_forward
        """),
        Valid("""
            class MyFn(torch.autograd.Function):
                @staticmethod
                def backward(ctx, grad):
                    return MyFn.forward(ctx, grad)
        """),
        Valid("""
            import torch.nn as nn
            outputs = nn.Linear.forward(layer, x)
        """),
        Valid("""
            class NoSyncWrapper(nn.Module):
                def forward(self, *inputs, **kwargs):
                    return self.module.forward(*inputs, **kwargs)
        """),
        Valid("""
            hook = model.register_forward_hook(save_activation)
            out = model(x)
            sig = inspect.signature(model.forward)
        """),
    ]
    INVALID = [
        Invalid(
            """
            for images, labels in loader:
                logits = model.forward(images)
            """,
            line=2,
            fixed="""
            for images, labels in loader:
                logits = model(images)
            """,
        ),
        Invalid(
            """
            with torch.no_grad():
                feats = self.backbone.forward(batch["pixel_values"])
            """,
            line=2,
            fixed="""
            with torch.no_grad():
                feats = self.backbone(batch["pixel_values"])
            """,
        ),
        Invalid(
            """
            def training_step(self, batch, batch_idx):
                x, y = batch
                loss = F.cross_entropy(self.model.forward(x), y)
                return loss
            """,
            line=3,
            fixed="""
            def training_step(self, batch, batch_idx):
                x, y = batch
                loss = F.cross_entropy(self.model(x), y)
                return loss
            """,
        ),
        Invalid(
            """
            G = Generator(latent_dim=128)
            fake = G.forward(noise)
            output = netD.forward(fake.detach()).view(-1)
            """,
            line=2,
            fixed="""
            G = Generator(latent_dim=128)
            fake = G(noise)
            output = netD(fake.detach()).view(-1)
            """,
        ),
        Invalid(
            """
            class Ensemble(nn.Module):
                def forward(self, x):
                    return sum(m.forward(x) for m in self.members) / len(self.members)
            """,
            line=3,
            fixed="""
            class Ensemble(nn.Module):
                def forward(self, x):
                    return sum(m(x) for m in self.members) / len(self.members)
            """,
        ),
        Invalid(
            """
            out = models[name].forward(**inputs)
            """,
            line=1,
            fixed="""
            out = models[name](**inputs)
            """,
        ),
        Invalid(
            """
            ddp_model = DDP(model, device_ids=[rank])
            loss = loss_fn(ddp_model.forward(inputs), labels)
            """,
            line=2,
            fixed="""
            ddp_model = DDP(model, device_ids=[rank])
            loss = loss_fn(ddp_model(inputs), labels)
            """,
        ),
        Invalid(
            """
            class Trainer:
                def predict(self, batch):
                    return self.model.module.forward(
                        batch["x"],
                        mask=batch["mask"],
                    )
            """,
            line=3,
            fixed="""
            class Trainer:
                def predict(self, batch):
                    return self.model.module(
                        batch["x"],
                        mask=batch["mask"],
                    )
            """,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "forward":
            return
        target = func.value
        if self._is_own_or_class(target) or _passes_self(node) or self._wrapper_forward(target):
            return
        if not isinstance(target, (cst.Name, cst.Attribute, cst.Subscript, cst.Call)) or target.lpar:
            return
        text = self.context.code(target)
        fix = None if "\n" in text else FixSpec(f"Call `{text}(...)`", [Replace(func, text)])
        self.report(node, self.message.format(receiver=text), fix=fix)

    def _wrapper_forward(self, target: cst.BaseExpression) -> bool:
        """``self.module.forward(...)`` inside a class's own ``forward``."""
        name = dotted_name(target) or ""
        if not name.startswith("self."):
            return False
        method = self.context.enclosing(cst.FunctionDef)
        return method is not None and method.name.value == "forward" and self.context.enclosing(cst.ClassDef) is not None

    def _is_own_or_class(self, target: cst.BaseExpression) -> bool:
        """``self``/``super()``/``cls``, or a class: one of this file (``Block``) or an imported
        one (``nn.Linear``).  ``G`` bound to ``Generator()`` is an instance."""
        if isinstance(target, cst.Call):
            return isinstance(target.func, cst.Name) and target.func.value in _OWN_RECEIVERS
        name = dotted_name(target)
        if name is None:
            return False
        if name in _OWN_RECEIVERS:
            return True
        if not name.rsplit(".", 1)[-1][:1].isupper():
            return False
        return name in file_index(self.context).classes or self.context.names.resolve(target) is not None


def _passes_self(call: cst.Call) -> bool:
    """``Base.forward(self, x)``: an unbound method called with an explicit instance."""
    first = call.args[0].value if call.args and call.args[0].keyword is None else None
    return isinstance(first, cst.Name) and first.value in ("self", "ctx")
