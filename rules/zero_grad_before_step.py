from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.nodes import ancestors_of, method_name
from dlsan.lint.analysis.optimizers import (
    GradEvent,
    grad_events,
    stepped_optimizers,
    steps_a_torch_optimizer,
)
from dlsan.lint.rule import Invalid, Rule, Valid


def _cleared_optimizers(clear: GradEvent, stepped: set[str]) -> set[str]:
    """Which of the ``stepped`` optimizers a clear surely clears: itself, the same attribute seen
    through another receiver (``self.optimizer`` / ``optimizer``), or, for ``model.zero_grad()``,
    the only optimizer there is."""
    if clear.optimizer is None:
        return stepped if len(stepped) == 1 else set()
    last = clear.optimizer.rsplit(".", 1)[-1]
    return {name for name in stepped if name.rsplit(".", 1)[-1] == last}


class ZeroGradBeforeStep(Rule):
    """
    ## What it does
    Flags `zero_grad()` called after `backward()` and before the `step()` of the same optimizer.

    `model.zero_grad()` counts when a single optimizer steps in the function. A `zero_grad()` of one
    optimizer between another optimizer's `backward()` and `step()` (a GAN's two updates) is fine.

    ## Why is this bad?
    `zero_grad()` erases the gradients that `backward()` just computed, so `step()` applies zero
    gradients (or, with `set_to_none=True`, skips every parameter): the model never learns, with
    no error, and momentum or weight decay may still move the weights.

    ## Example
    ```python
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    ```

    ## Use instead
    ```python
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    ```
    """

    code = "DLS505"
    name = "zero-grad-before-step"
    message = (
        "`zero_grad()` runs after `backward()` and before `step()`, so the step applies cleared "
        "gradients and nothing is learned; clear before the forward pass or after `step()`"
    )
    requires = ("zero_grad",)

    VALID = [
        # written after d2l-ai/d2l-en d2l/mxnet.py's `train_epoch_ch3`: the optimizer is a Gluon
        # `Trainer`, not a torch optimizer (its parameters' gradients are MXNet's business)
        Valid("""
            from mxnet import autograd, gluon
            optimizer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
            for X, y in train_iter:
                with autograd.record():
                    l = loss(net(X), y)
                l.backward()
                net.zero_grad()
                optimizer.step(X.shape[0])
        """),
        Valid("""
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
        """),
        Valid("""
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
        """),
        Valid("""
            for real, _ in loader:
                opt_d.zero_grad()
                d_loss = disc_loss(D(real), D(G(z()).detach()))
                d_loss.backward()
                opt_d.step()
                opt_g.zero_grad()
                g_loss = gen_loss(D(G(z())))
                g_loss.backward()
                opt_g.step()
        """),
        Valid("""
            for i, batch in enumerate(loader):
                loss = model(batch).loss / accum
                loss.backward()
                if (i + 1) % accum == 0:
                    optimizer.step()
                    optimizer.zero_grad()
        """),
        Valid("""
            for data, _ in dataloader:
                netD.zero_grad()
                errD = criterion(netD(data), real_label)
                errD.backward()
                optimizerD.step()
                netG.zero_grad()
                errG = criterion(netD(netG(noise)), real_label)
                errG.backward()
                optimizerG.step()
        """),
        Valid("""
            for x, y in loader:
                loss_d = d_loss(x)
                loss_d.backward()
                opt_g.zero_grad()
                opt_d.step()
        """),
        Valid("""
            def training_step(self, batch, batch_idx):
                opt = self.optimizers()
                loss = self.compute_loss(batch)
                self.manual_backward(loss)
                if (batch_idx + 1) % 4 == 0:
                    opt.step()
                    opt.zero_grad()
        """),
        Valid("""
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                if not torch.isfinite(loss):
                    optimizer.zero_grad()
                    continue
                optimizer.step()
        """),
        Valid("""
            for x, y in loader:
                def closure():
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    return loss
                optimizer.step(closure)
        """),
    ]
    INVALID = [
        Invalid("""
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.zero_grad()
                optimizer.step()
        """, line=4),
        Invalid("""
            for images, labels in train_loader:
                outputs = model(images)
                loss = criterion(outputs, labels)
                loss.backward()
                model.zero_grad()
                optimizer.step()
        """, line=5),
        Invalid("""
            for real, _ in loader:
                opt_d.zero_grad()
                d_loss = disc_loss(D(real), D(G(z()).detach()))
                d_loss.backward()
                opt_d.step()
                g_loss = gen_loss(D(G(z())))
                g_loss.backward()
                opt_g.zero_grad()
                opt_g.step()
        """, line=8),
        Invalid("""
            def train_step(model, batch, optimizer):
                loss = model(**batch).loss
                loss.backward()
                optimizer.zero_grad(set_to_none=True)
                optimizer.step()
                return loss.item()
        """, line=4),
        Invalid("""
            for x, y in loader:
                with torch.autocast("cuda"):
                    loss = criterion(model(x), y)
                scaler.scale(loss).backward()
                optimizer.zero_grad()
                scaler.step(optimizer)
                scaler.update()
        """, line=5),
        Invalid("""
            class Trainer:
                def step(self, batch):
                    loss = self.model(batch).mean()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                    self.optimizer.zero_grad()
                    self.optimizer.step()
        """, line=6),
        Invalid("""
            def training_step(self, batch, batch_idx):
                opt = self.optimizers()
                loss = self.compute_loss(batch)
                self.manual_backward(loss)
                opt.zero_grad()
                opt.step()
        """, line=5),
        Invalid("""
            for epoch in range(epochs):
                for x, y in loader:
                    pred = net(x)
                    loss = F.mse_loss(pred, y)
                    loss.backward()
                    opt.zero_grad()
                    opt.step()
        """, line=6),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if method_name(node) != "zero_grad":
            return
        scope = self.context.semantic.binding_function(self.context.ancestors).node
        events = [e for e in grad_events(self.context, scope, self.context.enclosing(cst.ClassDef))
                  if not e.followed]
        position = next((i for i, e in enumerate(events) if e.node is node), None)
        if position is None:
            return
        step = self._step_cleared_early(events, position)
        if (step is not None and isinstance(step.node, cst.Call) and steps_a_torch_optimizer(self.context, step.node)
                and self._runs_whenever(node, step)):
            self.report(node)

    @staticmethod
    def _step_cleared_early(events: list[GradEvent], position: int) -> GradEvent | None:
        """The step that this clear precedes when a ``backward()`` came just before it."""
        targets = _cleared_optimizers(events[position], stepped_optimizers(events))
        if not targets:
            return None

        def relevant(e: GradEvent) -> bool:
            return e.kind == "backward" or e.kind == "step" and e.optimizer in targets

        previous = next((e for e in reversed(events[:position]) if relevant(e)), None)
        if previous is None or previous.kind != "backward":
            return None
        following = next((e for e in events[position + 1:] if relevant(e)), None)
        return following if following is not None and following.kind == "step" else None

    def _runs_whenever(self, clear: cst.CSTNode, step: GradEvent) -> bool:
        """Whether the clear runs every time the step does (it is not under a branch or loop
        that the step is outside of)."""
        step_ancestors = {id(n) for n in ancestors_of(self.context, step.node)}
        common = next((a for a in ancestors_of(self.context, clear) if id(a) in step_ancestors), None)
        return self.context.semantic.runs_whenever(clear, common)
