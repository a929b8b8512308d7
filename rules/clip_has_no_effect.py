from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.iteration import is_clip_call, position, regions_around
from dlsan.lint.analysis.optimizers import GradEvent, grad_events
from dlsan.lint.rule import Invalid, Rule, Valid


class ClipHasNoEffect(Rule):
    """
    ## What it does
    Flags gradient clipping (`torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`) placed, within
    one training iteration, before any `backward()` (with the step after it), or after the last
    `optimizer.step()` with no `backward()` or step following it.

    ## Why is this bad?
    Clipping acts on the gradients present when it runs. Before `backward()` it clips the previous
    iteration's gradients (usually already zeroed), and the fresh ones are applied unclipped; after
    `step()` the update has already been made. Either way the run trains without the clipping it
    was configured with, and exploding gradients go through.

    ## Example
    ```python
    optimizer.zero_grad()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    loss.backward()
    optimizer.step()
    ```

    ## Use instead
    ```python
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    ```
    """

    code = "DLS510"
    name = "clip-has-no-effect"
    message = "gradients are clipped {where}, so the update is not clipped; clip between `backward()` and `step()`"

    VALID = [
        Valid("""
            import torch
            for x, y in loader:
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
        """),
        Valid("""
            import torch
            for i, (x, y) in enumerate(loader):
                loss.backward()
                if (i + 1) % k == 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    opt.step()
                    opt.zero_grad()
        """),
        Valid("""
            import torch
            for x, y in loader:
                if step > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    opt.step()
                loss.backward()
        """),
        Valid("""
            import torch
            for x, y in loader:
                lossD.backward()
                torch.nn.utils.clip_grad_norm_(D.parameters(), 1.0)
                optD.step()
                lossG.backward()
                torch.nn.utils.clip_grad_norm_(G.parameters(), 1.0)
                optG.step()
        """),
        Valid("""
            import torch
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        """),
        Valid("""
            import torch
            for x, y in loader:
                opt.step()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        """),
        Valid("""
            import torch
            def train_step(model, loss, opt):
                loss.backward()
                torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)
                opt.step()
        """),
        Valid("""
            import torch
            for x, y in loader:
                loss.backward()
                opt.step()
                opt.zero_grad()
                loss2.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt2.step()
        """),
    ]
    INVALID = [
        Invalid("""
            import torch
            for x, y in loader:
                opt.zero_grad()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                loss = crit(model(x), y)
                loss.backward()
                opt.step()
        """, line=4),
        Invalid("""
            import torch
            for x, y in loader:
                loss.backward()
                opt.step()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.zero_grad()
        """, line=5),
        Invalid("""
            import torch
            from torch.nn.utils import clip_grad_value_
            for x, y in loader:
                loss.backward()
                optimizer.step()
                clip_grad_value_(model.parameters(), 0.1)
        """, line=6),
        Invalid("""
            import torch
            def train_step(model, batch, opt):
                opt.zero_grad()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                loss = model(batch).mean()
                loss.backward()
                opt.step()
        """, line=4),
        Invalid("""
            import torch.nn as nn
            for epoch in range(10):
                for x, y in loader:
                    optimizer.zero_grad()
                    out = model(x)
                    loss = criterion(out, y)
                    loss.backward()
                    optimizer.step()
                    nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
        """, line=9),
        Invalid("""
            import torch
            for x, y in loader:
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """, line=3),
        Invalid("""
            import torch
            class Trainer:
                def step(self, batch):
                    self.opt.zero_grad()
                    loss = self.model(batch)
                    loss.backward()
                    self.opt.step()
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_norm)
        """, line=8),
        Invalid("""
            import torch
            while True:
                torch.nn.utils.clip_grad_value_(params, 1.0)
                loss.backward()
                opt.step()
        """, line=3),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not is_clip_call(self.context, node):
            return
        within = self.context.enclosing(cst.ClassDef)
        for region in regions_around(self.context, node):
            events = grad_events(self.context, region, within)
            kinds = {e.kind for e in events}
            if "backward" not in kinds or "step" not in kinds:
                continue
            self._check(node, region, events)
            return

    def _check(self, node: cst.Call, region: cst.CSTNode, events: list[GradEvent]) -> None:
        at = position(self.context, region, node)
        placed = [(position(self.context, region, e.node), e.kind) for e in events if e.kind in ("backward", "step")]
        before = [kind for where, kind in placed if where < at]
        after = [kind for where, kind in placed if where > at]
        if not before and "backward" in after and "step" in after[after.index("backward"):]:
            self.report(node, self.message.format(where="before `backward()` computes this step's gradients"))
        elif before and before[-1] == "step" and "backward" in before and not after:
            self.report(node, self.message.format(where="after `step()` has already applied them"))
