from __future__ import annotations

import re

import libcst as cst

from dlsan.lint.analysis.functions import Callee, callee
from dlsan.lint.analysis.loops import enclosing_training_loop
from dlsan.lint.analysis.modes import (
    REPORT_UNRESOLVED,
    ModeEvent,
    mode_of_call,
    mode_relevance,
    scope_events,
)
from dlsan.lint.analysis.nodes import method_name
from dlsan.lint.context import FileContext
from dlsan.lint.names import dotted_name, is_self_member
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic.summaries import argument_for, summary_of
from dlsan.lint.walk import children

#: models that are meant to stay in eval mode while another one trains
_FROZEN_MODEL = re.compile(r"teacher|target|ema|frozen|ref(erence)?(_|$)|pretrained", re.IGNORECASE)


class TrainModeNotRestored(Rule):
    """
    ## What it does
    Flags a model put in eval mode inside a training loop (directly, or by calling a function of
    the project such as `validate(model)`, also one imported from the project's own modules) when
    no `.train()` follows before the loop's next training step.

    The loop body is read as a cycle: a `model.train()` at the top of the next iteration, or at the
    end of the called function, restores the mode. `.train(was_training)`-style restores with a
    run-time flag count as restoring. Quiet for models meant to stay frozen (`teacher`,
    `target_net`, `ema_model`...).

    ## Why is this bad?
    After the first evaluation the rest of training runs in eval mode: dropout is off and batch norm
    stops updating its running statistics and normalises with stale ones. Training still "works",
    so nothing crashes; the model just regularises less and converges to something worse, and the
    drop starts exactly at the first validation - a classic silent bug of periodic evaluation.

    ## Example
    ```python
    model.train()
    for epoch in range(epochs):
        for x, y in train_loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        validate(model, val_loader)  # calls model.eval()
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        validate(model, val_loader)
    ```

    ## Options
    `report-unresolved` (default `false`): also report a model whose class cannot be resolved, as
    the option of the same name of DLS301 does (its page says why it is off by default).
    ```toml
    [tool.dlsan.rule-options.DLS302]
    report-unresolved = true
    ```
    """

    code = "DLS302"
    name = "train-mode-not-restored"
    message = (
        "the model is switched to eval mode inside the training loop ({evidence}) and not back to `.train()` "
        "before the next training step: dropout and batch-norm updates stay off for the rest of "
        "training; call `model.train()` after evaluating (or at the top of each epoch)"
    )
    requires = ("torch",)
    options = {REPORT_UNRESOLVED: False}

    VALID = [
        # jindongwang/transferlearning code/deep/finetune_AlexNet_ResNet/finetune_office31.py:
        # each phase sets the mode it needs
        Valid("""
            import torch
            from torchvision import models
            model = models.resnet50(pretrained=True)
            for epoch in range(1, n_epoch + 1):
                for phase in ["src", "val", "tar"]:
                    if phase == "src":
                        model.train()
                    else:
                        model.eval()
                    for inputs, labels in dataloaders[phase]:
                        optimizer.zero_grad()
                        loss = criterion(model(inputs), labels)
                        if phase == "src":
                            loss.backward()
                            optimizer.step()
        """),
        # mrdbourke/pytorch-deep-learning 02_pytorch_classification.py: a Linear/ReLU model, so
        # leaving it in eval mode changes nothing
        Valid("""
            import torch
            from torch import nn
            class CircleModelV2(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layer_1 = nn.Linear(in_features=2, out_features=10)
                    self.relu = nn.ReLU()
                def forward(self, x):
                    return self.relu(self.layer_1(x))
            model_3 = CircleModelV2()
            for epoch in range(epochs):
                y_logits = model_3(X_train).squeeze()
                loss = loss_fn(y_logits, y_train)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                model_3.eval()
                with torch.inference_mode():
                    test_logits = model_3(X_test).squeeze()
        """),
        Valid("""
            import torch
            for epoch in range(epochs):
                model.train()
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    val = [model(x) for x, _ in val_loader]
        """),
        Valid("""
            import torch
            def validate(model, loader):
                model.eval()
                with torch.no_grad():
                    out = [model(x) for x in loader]
                model.train()
                return out
            for step, batch in enumerate(loader):
                loss = model(batch).mean()
                loss.backward()
                optimizer.step()
                if step % 1000 == 0:
                    validate(model, val_loader)
        """),
        Valid("""
            import torch
            def evaluate(model, loader):
                was_training = model.training
                model.eval()
                result = run(model, loader)
                model.train(was_training)
                return result
            for epoch in range(10):
                for batch in loader:
                    optimizer.zero_grad()
                    model(batch).loss.backward()
                    optimizer.step()
                evaluate(model, val_loader)
        """),
        Valid("""
            import torch
            teacher.eval()
            for x, y in loader:
                with torch.no_grad():
                    soft = teacher(x)
                loss = kd_loss(student(x), soft, y)
                loss.backward()
                optimizer.step()
        """),
        Valid("""
            import torch
            for x, y in loader:
                target_net.eval()
                with torch.no_grad():
                    q_next = target_net(x).max(1).values
                loss = F.smooth_l1_loss(policy_net(x).gather(1, y), q_next)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """),
        Valid("""
            import torch
            for epoch in range(epochs):
                train_one_epoch(model, train_loader, optimizer)
                model.eval()
                evaluate(model, val_loader)
            def train_one_epoch(model, loader, optimizer):
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    F.nll_loss(model(x), y).backward()
                    optimizer.step()
        """),
        Valid("""
            import torch
            model.eval()
            with torch.no_grad():
                baseline = evaluate(model, val_loader)
            model.train()
            for x, y in loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
        """),
        Valid("""
            import torch
            class Trainer:
                def fit(self):
                    for epoch in range(self.epochs):
                        self.model.train()
                        for batch in self.train_loader:
                            self.training_step(batch)
                        self.model.eval()
                        self.validate()
                def training_step(self, batch):
                    self.optimizer.zero_grad()
                    self.model(batch).loss.backward()
                    self.optimizer.step()
        """),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            import torchvision
            model = torchvision.models.resnet18(num_classes=10)
            def validate(model, loader):
                model.eval()
                with torch.no_grad():
                    return sum(criterion(model(x), y).item() for x, y in loader)
            model.train()
            for epoch in range(epochs):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                validate(model, val_loader)
            """,
            line=14,
        ),
        Invalid(
            """
            import torch
            import torchvision
            model = torchvision.models.resnet18(num_classes=10)
            for step, batch in enumerate(loader):
                loss = criterion(model(batch["x"]), batch["y"])
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                if step % eval_every == 0:
                    model.eval()
                    with torch.no_grad():
                        evaluate(model, val_loader)
            """,
            line=10,
        ),
        Invalid(
            """
            import torch
            import torchvision
            model = torchvision.models.resnet18(num_classes=10)
            model.train()
            for epoch in range(num_epochs):
                for inputs, labels in dataloaders["train"]:
                    optimizer.zero_grad()
                    loss = criterion(model(inputs), labels)
                    loss.backward()
                    optimizer.step()
                model.train(False)
                for inputs, labels in dataloaders["val"]:
                    with torch.no_grad():
                        outputs = model(inputs)
            """,
            line=11,
        ),
        Invalid(
            """
            import torch
            import torchvision
            class Trainer:
                def __init__(self, train_loader, val_loader, epochs):
                    self.model = torchvision.models.resnet18(num_classes=10)
                    self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
                    self.train_loader, self.val_loader, self.epochs = train_loader, val_loader, epochs
                def evaluate(self):
                    self.model.eval()
                    with torch.no_grad():
                        return [self.model(b) for b in self.val_loader]
                def fit(self):
                    self.model.train()
                    for epoch in range(self.epochs):
                        for batch in self.train_loader:
                            self.optimizer.zero_grad()
                            self.model(batch).mean().backward()
                            self.optimizer.step()
                        self.evaluate()
            """,
            line=19,
        ),
        Invalid(
            """
            import torch
            import torch.nn as nn
            netG = nn.Sequential(nn.ConvTranspose2d(100, 64, 4), nn.BatchNorm2d(64), nn.ReLU(), nn.ConvTranspose2d(64, 3, 4))
            for i, (real, _) in enumerate(dataloader):
                netD.zero_grad()
                errD = criterion(netD(real), label)
                errD.backward()
                optimizerD.step()
                if i % 100 == 0:
                    netG.eval()
                    with torch.no_grad():
                        samples = netG(fixed_noise)
                netG.zero_grad()
                errG = criterion(netD(netG(noise)), label)
                errG.backward()
                optimizerG.step()
            """,
            line=10,
        ),
        Invalid(
            """
            import torch
            import torchvision
            def run_eval(model, loader, metric):
                model.eval()
                for x, y in loader:
                    metric.update(model(x), y)
                return metric.compute()
            def train(model, loader, val_loader, optimizer, epochs):
                model.train()
                for epoch in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        F.cross_entropy(model(x), y).backward()
                        optimizer.step()
                    score = run_eval(model, val_loader, metric)
            train(torchvision.models.resnet18(), train_loader, val_loader, optimizer, epochs=10)
            """,
            line=15,
        ),
        Invalid(
            """
            import torch
            import torchvision
            model = torchvision.models.resnet18(num_classes=10)
            step = 0
            while step < max_steps:
                x, y = next(it)
                scaler.scale(criterion(model(x), y)).backward()
                scaler.step(optimizer)
                scaler.update()
                step += 1
                if step % 500 == 0:
                    model.eval()
                    perplexity = compute_perplexity(model, val_data)
            """,
            line=12,
        ),
        Invalid(
            """
            import torch
            import torchvision
            model = torchvision.models.resnet18(num_classes=10)
            def test(model, loader):
                model.eval()
                correct = 0
                with torch.no_grad():
                    for x, y in loader:
                        correct += (model(x).argmax(1) == y).sum().item()
                return correct
            def train(model, loader, optimizer):
                for x, y in loader:
                    optimizer.zero_grad()
                    F.nll_loss(model(x), y).backward()
                    optimizer.step()
            for epoch in range(1, 11):
                train(model, train_loader, optimizer)
                test(model, test_loader)
            """,
            line=18,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        mode = mode_of_call(node)
        if mode is None and (method_name(node) is not None and not is_self_member(node.func)):
            return
        if mode not in (None, "eval"):
            return
        if mode == "eval" and _FROZEN_MODEL.search(context.code(node.func)):
            return
        cls = context.enclosing(cst.ClassDef)
        target = callee(context, node, cls) if mode is None else None
        if mode is None and target is None:
            return
        loop = enclosing_training_loop(context)
        if loop is None:
            return
        flow = context.semantic.walk_function(context.ancestors)
        events = scope_events(context, loop, cls)
        mine = [i for i, e in enumerate(events) if e.origin is node and e.kind == "eval"]
        if mine and _steps_before_restore(events, mine[-1]) and flow.contains(loop, node) \
                and not _mode_chosen_per_branch(context, node, loop):
            if mode == "eval" and isinstance(node.func, cst.Attribute):
                models = [node.func.value]
            else:
                models = _arguments_put_in_eval(context, node, target, cls) or _globals_put_in_eval(context, target)
                if not models:
                    return  # the eval comes from deeper calls on a model we cannot name: unknown, quiet
            relevance = mode_relevance(context, models, bool(self.settings[REPORT_UNRESOLVED]))
            if relevance.matters:
                self.report(node, self.message.format(evidence=relevance.evidence))


def _arguments_put_in_eval(context: FileContext, call: cst.Call, target: Callee | None,
                           cls: cst.ClassDef | None) -> list[cst.BaseExpression]:
    """The arguments of ``call`` that the called function switches to eval mode
    (``evaluate(model, loader)`` with ``model.eval()`` in its body, or in a function it passes
    ``model`` on to; see :class:`~dlsan.lint.semantic.summaries.FunctionSummary`)."""
    if target is None:
        return []
    evaluated = summary_of(target.context, target.function, target.within(context, cls)).evaluated
    found = [argument_for(call, target.function, position) for position in sorted(evaluated)]
    return [argument for argument in found if argument is not None]


#: how deep _globals_put_in_eval follows self methods
_MAX_EVAL_DEPTH = 3


def _globals_put_in_eval(context: FileContext, target: Callee | None, depth: int = 0) -> list[cst.BaseExpression]:
    """The models of this file that a same-file ``target`` switches to eval, itself or through the
    ``self`` methods it calls (``eval_model()`` calling ``evaluate()``), by a name that is not one of
    its parameters (``def validate(): model.eval() ...``), or a ``self`` attribute when it is a
    method (``self.model.eval()``)."""
    if target is None or target.context is not context or depth > _MAX_EVAL_DEPTH:
        return []
    parameters = {p.name.value for p in target.function.params.params} - ({"self"} if target.cls else set())
    found: list[cst.BaseExpression] = []
    for call in context.semantic.scope_for(target.function).calls:
        if mode_of_call(call) == "eval" and isinstance(call.func, cst.Attribute):
            root = call.func.value
            while isinstance(root, cst.Attribute):
                root = root.value
            if isinstance(root, cst.Name) and root.value not in parameters:
                found.append(call.func.value)
        elif isinstance(call.func, cst.Attribute) and dotted_name(call.func.value) == "self":
            found.extend(_globals_put_in_eval(context, callee(context, call, target.cls), depth + 1))
    return found


def _mode_chosen_per_branch(context: FileContext, call: cst.Call, loop: cst.CSTNode) -> bool:
    """``if phase == "train": model.train() else: model.eval()``: each pass sets the mode it needs."""
    for ancestor in context.semantic.ancestors(call):
        if ancestor is loop:
            return False
        if isinstance(ancestor, cst.If):
            branches = [ancestor.body, ancestor.orelse]
            mine = next((b for b in branches if b is not None and _inside(context, call, b)), None)
            others = [b for b in branches if b is not None and b is not mine]
            if any(mode_of_call(inner) == "train" for other in others for inner in _calls_below(other)):
                return True
    return False


def _inside(context: FileContext, node: cst.CSTNode, outer: cst.CSTNode) -> bool:
    return any(a is outer for a in context.semantic.ancestors(node))


def _calls_below(node: cst.CSTNode) -> list[cst.Call]:
    found, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Call):
            found.append(item)
        stack.extend(children(item))
    return found


def _steps_before_restore(events: list[ModeEvent], start: int) -> bool:
    """Reading the loop body's events as a cycle from ``start``: is a training step reached
    before any ``train``/``unknown`` event?"""
    count = len(events)
    for offset in range(1, count):
        kind = events[(start + offset) % count].kind
        if kind in ("train", "unknown"):
            return False
        if kind == "step":
            return True
    return False
