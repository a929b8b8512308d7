from __future__ import annotations

import libcst as cst

from dlsan.lint.names import dotted_name
from dlsan.lint.rule import FixSpec, Invalid, Replace, Rule, Valid
from dlsan.lint.semantic.values import Value, value_of


class DirectForwardCall(Rule):
    """
    ## What it does
    Flags `model.forward(x)` called on a module from outside it, instead of `model(x)`.

    The receiver must be known to be a PyTorch `nn.Module`: built in this file by a `torch.nn` layer, a
    model factory (`torchvision.models`, `timm`), a class of this file that subclasses `nn.Module`,
    or a parameter annotated `nn.Module`. Objects of unknown type are left alone (numpy layer
    classes with their own `forward`, RPC proxies such as `rref.remote().forward(x)`, extension
    functions).

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
    Safe: the fix is offered only where the receiver is known to be an `nn.Module`, whose
    `__call__` runs `forward` with the same arguments, plus the hooks.
    """

    code = "DLS603"
    name = "direct-forward-call"
    message = (
        "`{receiver}` is {evidence}: calling `.forward()` directly skips the module's hooks (sanitizer, AMP/profiler/quantization "
        "hooks, DDP gradient sync); call the module instead: `{receiver}(...)`"
    )
    fix_applicability = "safe"
    requires = ("forward",)

    VALID = [
        # apachecn/AiLearning src/py3.x/dl/cnn.py: a from-scratch numpy layer, no torch anywhere
        Valid("""
            import numpy as np
            class ConvLayer(object):
                def forward(self, input_array):
                    self.input_array = input_array
            cl = ConvLayer()
            cl.forward(np.zeros((3, 5, 5)))
        """),
        # pytorch/examples distributed/rpc/pipeline/main.py: RRef proxies call methods by name
        Valid("""
            import torch
            class DistResNet50(torch.nn.Module):
                def forward(self, xs):
                    y_rref = self.p1_rref.remote().forward(x_rref)
                    z_fut = self.p2_rref.rpc_async().forward(y_rref)
        """),
        Valid("""
            import torch.nn as nn
            out = models[name].forward(**inputs)
        """),
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
            from torchvision.models import resnet18
            model = resnet18(num_classes=10)
            for images, labels in loader:
                logits = model.forward(images)
            """,
            line=4,
            fixed="""
            from torchvision.models import resnet18
            model = resnet18(num_classes=10)
            for images, labels in loader:
                logits = model(images)
            """,
        ),
        Invalid(
            """
            import torch.nn as nn
            class Probe(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
                    self.head = nn.Linear(8, 2)

                def features(self, batch):
                    with torch.no_grad():
                        return self.backbone.forward(batch["pixel_values"])
            """,
            line=10,
            fixed="""
            import torch.nn as nn
            class Probe(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
                    self.head = nn.Linear(8, 2)

                def features(self, batch):
                    with torch.no_grad():
                        return self.backbone(batch["pixel_values"])
            """,
        ),
        Invalid(
            """
            import torch.nn as nn
            # MorvanZhou/PyTorch-Tutorial, tutorial-contents/405_DQN_Reinforcement_learning.py
            class Net(nn.Module):
                def forward(self, x):
                    return self.out(x)

            class DQN(object):
                def __init__(self):
                    self.eval_net, self.target_net = Net(), Net()

                def choose_action(self, x):
                    return self.eval_net.forward(x)
            """,
            line=12,
            fixed="""
            import torch.nn as nn
            # MorvanZhou/PyTorch-Tutorial, tutorial-contents/405_DQN_Reinforcement_learning.py
            class Net(nn.Module):
                def forward(self, x):
                    return self.out(x)

            class DQN(object):
                def __init__(self):
                    self.eval_net, self.target_net = Net(), Net()

                def choose_action(self, x):
                    return self.eval_net(x)
            """,
        ),
        Invalid(
            """
            import torch.nn as nn
            class Generator(nn.Module):
                def forward(self, z):
                    return self.net(z)

            G = Generator().to(device)
            fake = G.forward(noise)
            """,
            line=7,
            fixed="""
            import torch.nn as nn
            class Generator(nn.Module):
                def forward(self, z):
                    return self.net(z)

            G = Generator().to(device)
            fake = G(noise)
            """,
        ),
        Invalid(
            """
            import torch.nn as nn
            def predict(model: nn.Module, x):
                return model.forward(x)
            """,
            line=3,
            fixed="""
            import torch.nn as nn
            def predict(model: nn.Module, x):
                return model(x)
            """,
        ),
        Invalid(
            """
            from torch.nn.parallel import DistributedDataParallel as DDP
            from torchvision.models import resnet50
            ddp_model = DDP(resnet50(), device_ids=[rank])
            loss = loss_fn(ddp_model.forward(inputs), labels)
            """,
            line=4,
        ),
        Invalid(
            """
            import torch.nn as nn
            layers = [nn.Linear(4, 8)]
            layers.append(nn.ReLU())
            mlp = nn.Sequential(*layers)
            y = mlp.forward(x)
            """,
            line=5,
            fixed="""
            import torch.nn as nn
            layers = [nn.Linear(4, 8)]
            layers.append(nn.ReLU())
            mlp = nn.Sequential(*layers)
            y = mlp(x)
            """,
        ),
        Invalid(
            """
            import torch.nn as nn
            class Net(nn.Module):
                pass

            def build():
                return Net().cuda()

            net = build()
            out = net.forward(batch)
            """,
            line=9,
            fixed="""
            import torch.nn as nn
            class Net(nn.Module):
                pass

            def build():
                return Net().cuda()

            net = build()
            out = net(batch)
            """,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "forward":
            return
        target = func.value
        if _passes_self(node) or self._wrapper_forward(target):
            return
        if not isinstance(target, (cst.Name, cst.Attribute, cst.Subscript, cst.Call)) or target.lpar:
            return
        module = value_of(self.context, target)
        if not module.is_torch_module:
            return  # numpy layers, RPC proxies, C++ extensions, anything not known to be an nn.Module
        text = self.context.code(target)
        fix = None if "\n" in text else FixSpec(f"Call `{text}(...)`", [Replace(func, text)])
        self.report(node, self.message.format(receiver=text, evidence=_evidence(module)), fix=fix)

    def _wrapper_forward(self, target: cst.BaseExpression) -> bool:
        """``self.module.forward(...)`` inside a class's own ``forward``."""
        name = dotted_name(target) or ""
        if not name.startswith("self."):
            return False
        method = self.context.enclosing(cst.FunctionDef)
        return method is not None and method.name.value == "forward" and self.context.enclosing(cst.ClassDef) is not None


def _evidence(module: Value) -> str:
    info = module.module
    name = info.class_name if info is not None else None
    return f"an `nn.Module` ({name})" if name else "an `nn.Module`"


def _passes_self(call: cst.Call) -> bool:
    """``Base.forward(self, x)``: an unbound method called with an explicit instance."""
    first = call.args[0].value if call.args and call.args[0].keyword is None else None
    return isinstance(first, cst.Name) and first.value in ("self", "ctx")
