from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.iteration import is_clip_call, position, regions_around
from dlsan.lint.analysis.nodes import calls_in, method_name, receiver
from dlsan.lint.analysis.optimizers import stepped_optimizer
from dlsan.lint.names import dotted_name
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic.values import Kind, value_of


def _scaled_backward_scaler(call: cst.Call) -> str | None:
    """``scaler`` for ``scaler.scale(loss).backward()``."""
    if method_name(call) != "backward":
        return None
    inner = receiver(call)
    if isinstance(inner, cst.Call) and method_name(inner) == "scale" and len(inner.args) == 1:
        return dotted_name(receiver(inner))
    return None


class ClipScaledGradients(Rule):
    """
    ## What it does
    With a `GradScaler` (`scaler.scale(loss).backward()`), flags gradient clipping
    (`clip_grad_norm_` / `clip_grad_value_`) that comes after the scaled backward without
    `scaler.unscale_(optimizer)` first, and `optimizer.step()` called directly on the scaled
    gradients when the iteration never calls `scaler.step(optimizer)`.

    ## Why is this bad?
    After `scaler.scale(loss).backward()` the gradients are multiplied by the loss scale (65536
    at first): a `max_norm=1.0` clip then shrinks them by that factor too, so clipping is far
    stronger than intended, changes with the scale, and the update is wrong. Stepping the
    optimizer directly applies gradients scaled by 65536 and skips the inf/NaN check that makes
    mixed precision safe. Training diverges or crawls, with no error.

    ## Example
    ```python
    scaler.scale(loss).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    ```

    ## Use instead
    ```python
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    ```
    """

    code = "DLS509"
    name = "clip-scaled-gradients"
    message = (
        "gradients are clipped while still multiplied by the loss scale of `{scaler}`, so the clip "
        "is far stronger than intended; call `{scaler}.unscale_(optimizer)` before clipping"
    )
    message_step = (
        "`{step}` applies the gradients still multiplied by the loss scale of `{scaler}` and skips "
        "its inf/NaN check; call `{scaler}.step(optimizer)` and `{scaler}.update()` instead"
    )

    VALID = [
        Valid("""
            import torch
            scaler = torch.cuda.amp.GradScaler()
            for x, y in loader:
                scaler.scale(loss_fn(model(x), y)).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
        """),
        Valid("""
            import torch
            scaler = torch.amp.GradScaler()
            for x, y in loader:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
        """),
        Valid("""
            import torch
            for x, y in loader:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
        """),
        Valid("""
            import torch
            def step(self, loss):
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_value_(self.model.parameters(), 0.5)
                self.scaler.step(self.optimizer)
                self.scaler.update()
        """),
        Valid("""
            import torch
            from torch.nn.utils import clip_grad_norm_
            scaler = torch.cuda.amp.GradScaler()
            for i, (x, y) in enumerate(loader):
                scaler.scale(loss).backward()
                if (i + 1) % accum == 0:
                    scaler.unscale_(opt)
                    clip_grad_norm_(model.parameters(), 1.0)
                    scaler.step(opt)
                    scaler.update()
        """),
        Valid("""
            import torch
            for x in loader:
                img = transforms.scale(x).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
        """),
        Valid("""
            import torch
            scaler = torch.cuda.amp.GradScaler()
            for x, y in loader:
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
        """),
        # pyg-team/pytorch_geometric examples/llm/protein_mpnn.py: the branch without AMP
        Valid("""
            import torch
            scaler = torch.amp.GradScaler()
            for batch in loader:
                if use_amp:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
        """),
        Valid("""
            import torch
            scaler = torch.cuda.amp.GradScaler(enabled=use_amp)
            for x, y in loader:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                scaler.step(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.update()
        """),
    ]
    INVALID = [
        Invalid("""
            import torch
            scaler = torch.cuda.amp.GradScaler()
            for x, y in loader:
                scaler.scale(loss_fn(model(x), y)).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
        """, line=5),
        Invalid("""
            import torch
            scaler = torch.amp.GradScaler("cuda")
            for x, y in loader:
                scaler.scale(loss).backward()
                optimizer.step()
        """, line=5),
        Invalid("""
            import torch
            from torch.nn.utils import clip_grad_value_
            def train_step(self, loss):
                self.scaler.scale(loss).backward()
                clip_grad_value_(self.model.parameters(), 0.1)
                self.scaler.step(self.optimizer)
                self.scaler.update()
        """, line=5),
        Invalid("""
            import torch
            from torch.cuda.amp import GradScaler
            scaler = GradScaler()
            for i, (x, y) in enumerate(loader):
                scaler.scale(loss).backward()
                if (i + 1) % accum == 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    scaler.step(opt)
                    scaler.update()
        """, line=7),
        Invalid("""
            import torch
            from torch import nn
            scaler = torch.cuda.amp.GradScaler()
            for epoch in range(10):
                for x, y in loader:
                    scaler.scale(crit(model(x), y)).backward()
                    nn.utils.clip_grad_norm_(model.parameters(), max_norm=5)
                    scaler.step(opt)
                    scaler.update()
        """, line=7),
        Invalid("""
            import torch
            scaler = torch.cuda.amp.GradScaler()
            for x, y in loader:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                opt.step()
                scaler.update()
        """, line=6),
        Invalid("""
            import torch
            def fit(model, loader, opt, scaler):
                for x, y in loader:
                    scaler.scale(model(x).mean()).backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    scaler.step(opt)
                    scaler.update()
        """, line=5),
        Invalid("""
            import torch
            grad_scaler = torch.cuda.amp.GradScaler()
            for x, y in loader:
                with torch.autocast("cuda"):
                    loss = crit(model(x), y)
                grad_scaler.scale(loss).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                grad_scaler.step(opt)
                grad_scaler.update()
        """, line=7),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        clip = is_clip_call(self.context, node)
        step = None if clip else stepped_optimizer(node)
        if not clip and step is None:
            return
        for region in regions_around(self.context, node):
            calls = calls_in(self.context, region)
            scaled = [(c, s) for c in calls if (s := _scaled_backward_scaler(c)) is not None]
            if not scaled:
                continue
            at = position(self.context, region, node)
            before = [(c, s) for c, s in scaled if position(self.context, region, c) < at]
            if before and self._is_scaler(before[-1][1], calls):
                self._check(node, region, calls, before[-1], clip, at)
            return

    def _check(self, node: cst.Call, region: cst.CSTNode, calls: list[cst.Call],
               backward: tuple[cst.Call, str], clip: bool, at: int) -> None:
        call, scaler = backward
        since = position(self.context, region, call)
        if any(method_name(c) == "backward" and _scaled_backward_scaler(c) is None
               and since < position(self.context, region, c) < at for c in calls):
            return  # an unscaled backward (the branch without AMP) comes in between
        if clip:
            unscaled = any(method_name(c) == "unscale_" and dotted_name(receiver(c)) == scaler
                           and since < position(self.context, region, c) < at for c in calls)
            if not unscaled:
                self.report(node, self.message.format(scaler=scaler))
            return
        if dotted_name(receiver(node)) == scaler:
            return
        scaler_steps = any(method_name(c) == "step" and dotted_name(receiver(c)) == scaler for c in calls)
        if not scaler_steps:
            self.report(node, self.message_step.format(step=self.context.code(node), scaler=scaler))

    def _is_scaler(self, scaler: str, calls: list[cst.Call]) -> bool:
        """A GradScaler by construction, or used with its protocol (``scale`` and ``update``)."""
        for call in calls:
            owner = receiver(call)
            if method_name(call) == "scale" and owner is not None and dotted_name(owner) == scaler:
                if value_of(self.context, owner).kind is Kind.SCALER:
                    return True
        return any(method_name(c) == "update" and dotted_name(receiver(c)) == scaler for c in calls)
