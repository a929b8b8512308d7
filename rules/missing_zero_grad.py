from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.callers import call_sites, enclosing_class_of
from dlsan.lint.analysis.loops import loops_around
from dlsan.lint.analysis.optimizers import (
    GradEvent,
    clears,
    grad_events,
    has_backward,
    iteration_events,
    optimized_modules,
    stepped_optimizer,
    stepped_optimizers,
    steps_a_torch_optimizer,
)
from dlsan.lint.rule import Invalid, Rule, Valid

#: methods that Lightning calls once per batch: an optimizer stepped there must be cleared there
_PER_BATCH_HOOKS = frozenset({"training_step"})


def _clears_optimizer(events: list[GradEvent], optimizer: str) -> bool:
    stepped = stepped_optimizers(events)
    return any(clears(event, optimizer, stepped) for event in events)


class MissingZeroGrad(Rule):
    """
    ## What it does
    Flags an `optimizer.step()` in a training iteration that calls `backward()` but never clears
    that optimizer's gradients.

    An iteration is a loop body that calls `backward()` (directly or through a function of the same
    file), a Lightning `training_step`, or a per-step function whose callers loop without clearing.
    `opt.zero_grad()`, `model.zero_grad()`, `zero_grad(set_to_none=True)` and `p.grad = None` all
    clear; gradient accumulation that clears every N steps is fine.

    ## Why is this bad?
    `backward()` adds into `.grad`; it does not overwrite it. Without clearing, every step applies
    the sum of all gradients since the start of training: the effective learning rate grows with
    the step count and training diverges or stalls, without any error. With two optimizers (a GAN's
    generator and discriminator) clearing only one of them is the usual slip.

    ## Example
    ```python
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```
    """

    code = "DLS504"
    name = "missing-zero-grad"
    message = (
        "`{optimizer}.step()` runs every iteration after `backward()`, but nothing clears its "
        "gradients, so they accumulate across iterations; call `{optimizer}.zero_grad()` each step"
    )
    requires = ("step",)

    VALID = [
        # d2l-ai/d2l-zh d2l/paddle.py: PaddlePaddle's optimizer clears with clear_grad(); the file
        # imports paddle and no torch
        Valid("""
            import paddle
            from paddle import nn
            def train_ch6(net, train_iter, num_epochs, lr):
                optimizer = paddle.optimizer.SGD(learning_rate=lr, parameters=net.parameters())
                loss = nn.CrossEntropyLoss()
                for epoch in range(num_epochs):
                    for i, (X, y) in enumerate(train_iter):
                        optimizer.clear_grad()
                        l = loss(net(X), y)
                        l.backward()
                        optimizer.step()
        """),
        # znxlwm/pytorch-generative-model-collections infoGAN.py: info_optimizer updates G and D,
        # whose own optimizers clear their gradients every iteration
        Valid("""
            import itertools
            import torch.optim as optim
            class infoGAN(object):
                def __init__(self):
                    self.G_optimizer = optim.Adam(self.G.parameters(), lr=lrG)
                    self.D_optimizer = optim.Adam(self.D.parameters(), lr=lrD)
                    self.info_optimizer = optim.Adam(itertools.chain(self.G.parameters(), self.D.parameters()), lr=lrD)
                def train(self):
                    for iter, (x_, y_) in enumerate(self.data_loader):
                        self.D_optimizer.zero_grad()
                        self.BCE_loss(self.D(x_), self.y_real_).backward(retain_graph=True)
                        self.D_optimizer.step()
                        self.G_optimizer.zero_grad()
                        self.BCE_loss(self.D(self.G(z_)), self.y_real_).backward(retain_graph=True)
                        self.G_optimizer.step()
                        info_loss = self.CE_loss(D_disc, y_disc_) + self.MSE_loss(D_cont, y_cont_)
                        info_loss.backward()
                        self.info_optimizer.step()
        """),
        # pytorch/examples distributed/rpc/rnn/main.py: gradients live per dist_autograd context
        Valid("""
            import torch.distributed.autograd as dist_autograd
            from torch.distributed.optim import DistributedOptimizer
            opt = DistributedOptimizer(optim.SGD, model.parameter_rrefs(), lr=0.05)
            for epoch in range(10):
                with dist_autograd.context() as context_id:
                    loss = criterion(model(inp), target)
                    dist_autograd.backward(context_id, [loss])
                    opt.step(context_id)
        """),
        # d2l-ai/d2l-en d2l/mxnet.py: Gluon's backward() overwrites gradients (grad_req="write")
        Valid("""
            from mxnet import autograd, gluon
            trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
            for X, y in train_iter:
                with autograd.record():
                    l = loss(net(X), y)
                l.backward()
                trainer.step(X.shape[0])
        """),
        Valid("""
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
        """),
        Valid("""
            for i, (x, y) in enumerate(loader):
                loss = criterion(model(x), y) / accum_steps
                loss.backward()
                if (i + 1) % accum_steps == 0:
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
        """),
        Valid("""
            for images, labels in train_loader:
                model.zero_grad()
                outputs = model(images)
                criterion(outputs, labels).backward()
                optimizer.step()
        """),
        Valid("""
            for batch in loader:
                for p in model.parameters():
                    p.grad = None
                loss = model(batch).mean()
                loss.backward()
                optimizer.step()
        """),
        Valid("""
            for real, _ in loader:
                opt_d.zero_grad()
                d_loss = disc_loss(D(real), D(G(noise()).detach()))
                d_loss.backward()
                opt_d.step()
                opt_g.zero_grad()
                g_loss = gen_loss(D(G(noise())))
                g_loss.backward()
                opt_g.step()
        """),
        Valid("""
            def train_step(model, batch, optimizer):
                optimizer.zero_grad()
                loss = model(batch).loss
                loss.backward()
                optimizer.step()
                return loss.item()

            for epoch in range(epochs):
                for batch in loader:
                    train_step(model, batch, opt)
        """),
        Valid("""
            def train_step(batch):
                loss = model(batch).mean()
                loss.backward()
                optimizer.step()

            for batch in loader:
                optimizer.zero_grad()
                train_step(batch)
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
        Valid("""
            class GAN(LightningModule):
                def training_step(self, batch, batch_idx):
                    opt_g, opt_d = self.optimizers()
                    opt_d.zero_grad()
                    self.manual_backward(self.d_loss(batch))
                    opt_d.step()
                    opt_g.zero_grad()
                    self.manual_backward(self.g_loss(batch))
                    opt_g.step()
        """),
        Valid("""
            for batch in loader:
                grads = torch.autograd.grad(loss_fn(model, batch), params)
                for p, g in zip(params, grads):
                    p.grad = g
                optimizer.step()
        """),
        Valid("""
            for x, y in loader:
                with torch.autocast("cuda"):
                    loss = criterion(model(x), y)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
        """),
    ]
    INVALID = [
        Invalid("""
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
        """, line=4),
        Invalid("""
            for epoch in range(num_epochs):
                optimizer.zero_grad()
                for inputs, targets in train_loader:
                    outputs = net(inputs)
                    loss = criterion(outputs, targets)
                    loss.backward()
                    optimizer.step()
        """, line=7),
        Invalid("""
            for real, _ in loader:
                opt_d.zero_grad()
                d_loss = disc_loss(D(real), D(G(noise()).detach()))
                d_loss.backward()
                opt_d.step()
                g_loss = gen_loss(D(G(noise())))
                g_loss.backward()
                opt_g.step()
        """, line=8),
        Invalid("""
            for x, y in loader:
                with torch.autocast("cuda"):
                    loss = criterion(model(x), y)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
        """, line=5),
        Invalid("""
            class Trainer:
                def fit(self, loader):
                    for batch in loader:
                        loss = self.model(batch).loss
                        self.accelerator.backward(loss)
                        self.optimizer.step()
                        self.scheduler.step()
        """, line=6),
        Invalid("""
            def train_step(batch):
                loss = model(batch).mean()
                loss.backward()
                optimizer.step()

            for epoch in range(10):
                for batch in loader:
                    train_step(batch)
        """, line=4),
        Invalid("""
            class GAN(LightningModule):
                def training_step(self, batch, batch_idx):
                    opt_g, opt_d = self.optimizers()
                    self.manual_backward(self.d_loss(batch))
                    opt_d.step()
                    opt_g.zero_grad()
                    self.manual_backward(self.g_loss(batch))
                    opt_g.step()
        """, line=5),
        Invalid("""
            step = 0
            while step < max_steps:
                batch = next(data_iter)
                loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optim.step()
                step += 1
        """, line=7),
        Invalid("""
            for episode in range(episodes):
                log_probs, rewards = run_episode(env, policy)
                loss = -(torch.stack(log_probs) * discounted(rewards)).sum()
                loss.backward()
                policy_optimizer.step()
        """, line=5),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        optimizer = stepped_optimizer(node)
        if optimizer is None or not steps_a_torch_optimizer(self.context, node):
            return
        events = iteration_events(self.context, "backward")
        if events is not None:
            if not _clears_optimizer(events, optimizer) and not self._cleared_through_others(events, optimizer, node):
                self._report(node, optimizer)
            return
        function = self.context.enclosing(cst.FunctionDef)
        within = self.context.enclosing(cst.ClassDef)
        if function is not None and self._per_step_function_never_clears(function, within, optimizer):
            self._report(node, optimizer)

    def _cleared_through_others(self, events: list[GradEvent], optimizer: str, at: cst.Call) -> bool:
        """The optimizer's parameters all belong to optimizers that are cleared here
        (``info_optimizer`` over ``G`` and ``D``, with ``G_optimizer`` and ``D_optimizer`` zeroed)."""
        mine = optimized_modules(self.context, optimizer, at)
        if not mine:
            return False
        cleared: set[str] = set()
        for event in events:
            if event.kind == "clear" and event.optimizer is not None and event.optimizer != optimizer:
                theirs = optimized_modules(self.context, event.optimizer, at)
                cleared |= theirs or set()
        return mine <= cleared

    def _per_step_function_never_clears(self, function: cst.FunctionDef, within: cst.ClassDef | None,
                                        optimizer: str) -> bool:
        """A function that steps without clearing, run once per batch: a Lightning hook, or a
        function every caller of which calls in a loop that does not clear either."""
        events = grad_events(self.context, function, within)
        if not has_backward(events) or _clears_optimizer(events, optimizer):
            return False
        if within is not None and function.name.value in _PER_BATCH_HOOKS:
            return True
        sites = call_sites(self.context, function)
        return bool(sites) and all(self._loops_without_clearing(site) for site in sites)

    def _loops_without_clearing(self, site: cst.Call) -> bool:
        loops = loops_around(self.context, site)
        if not loops:
            return False
        return not any(e.kind == "clear" for e in grad_events(self.context, loops[0], enclosing_class_of(self.context, site)))

    def _report(self, node: cst.Call, optimizer: str) -> None:
        self.report(node, self.message.format(optimizer=optimizer))

