from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.optimizers import (
    is_scheduler_step,
    iteration_events,
    steps_a_torch_optimizer,
    steps_a_torch_scheduler,
)
from dlsan.lint.rule import Invalid, Rule, Valid


class SchedulerBeforeOptimizerStep(Rule):
    """
    ## What it does
    Flags `lr_scheduler.step()` called, within a loop iteration, before any `optimizer.step()` of
    that iteration (at the top of the epoch loop, ahead of the batch loop or the `train()` call).

    Quiet where the scheduler or the optimizer is known to be another framework's object (a
    Gluon `Trainer`, a Keras optimizer) or of another kind, and in files that use another
    deep-learning framework and not torch.

    ## Why is this bad?
    Since PyTorch 1.1 the scheduler must step after the optimizer. Stepping it first skips the
    first value of the schedule: the warm-up or the initial learning rate is never used, and a
    step schedule decays one epoch early. PyTorch only warns once, at run time.

    ## Example
    ```python
    for epoch in range(epochs):
        scheduler.step()
        train_one_epoch(model, loader, optimizer)
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        scheduler.step()
    ```
    """

    code = "DLS506"
    name = "scheduler-before-optimizer-step"
    message = (
        "the LR scheduler steps before the optimizer in this iteration, which skips the first value "
        "of the schedule; call `scheduler.step()` after `optimizer.step()`"
    )
    requires = ("step",)

    VALID = [
        # huggingface/pytorch-image-models tests/test_optim.py: narrowed by isinstance to timm's
        # PlateauLRScheduler, which steps on a metric (its own kind, not a torch LR scheduler)
        Valid("""
            import torch
            from timm.scheduler import PlateauLRScheduler
            def _test_basic_cases_template(weight, bias, input, constructor, scheduler_constructors):
                optimizer = constructor(weight, bias)
                schedulers = [make(optimizer) for make in scheduler_constructors]
                for _i in range(200):
                    for scheduler in schedulers:
                        if isinstance(scheduler, PlateauLRScheduler):
                            val_loss = fn()
                            scheduler.step(val_loss)
                    optimizer.step(fn)
        """),
        # d2l-ai/d2l-en chapter_optimization/lr-scheduler.md (MXNet tab): a Gluon `Trainer` with a
        # hand-written scheduler object; neither is a torch object
        Valid("""
            from mxnet import autograd, gluon
            optimizer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
            for epoch in range(num_epochs):
                scheduler.step()
                for X, y in train_iter:
                    with autograd.record():
                        l = loss(net(X), y)
                    l.backward()
                    optimizer.step(X.shape[0])
        """),
        Valid("""
            for epoch in range(epochs):
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                scheduler.step()
        """),
        Valid("""
            for x, y in loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
                lr_scheduler.step()
        """),
        Valid("""
            def train(model, loader, optimizer):
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()

            for epoch in range(epochs):
                train(model, loader, optimizer)
                val_loss = validate(model, val_loader)
                scheduler.step(val_loss)
        """),
        Valid("""
            for t in scheduler.timesteps:
                noise_pred = unet(latents, t)
                latents = scheduler.step(noise_pred, t, latents).prev_sample
        """),
        Valid("""
            for _ in range(start_epoch):
                scheduler.step()
            for epoch in range(start_epoch, epochs):
                train_epoch(model, loader, optimizer)
                scheduler.step()
        """),
        Valid("""
            for real, _ in loader:
                opt_d.zero_grad()
                d_loss(real).backward()
                opt_d.step()
                sched_d.step()
                opt_g.zero_grad()
                g_loss(real).backward()
                opt_g.step()
                sched_g.step()
        """),
        Valid("""
            for x, y in loader:
                loss = criterion(model(x), y)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer.zero_grad()
        """),
        Valid("""
            for epoch in range(epochs):
                scheduler.step()
                print(scheduler.get_last_lr())
        """),
    ]
    INVALID = [
        Invalid("""
            for epoch in range(epochs):
                scheduler.step()
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
        """, line=2),
        Invalid("""
            def train(model, loader, optimizer):
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()

            for epoch in range(epochs):
                scheduler.step()
                train(model, loader, optimizer)
        """, line=8),
        Invalid("""
            for step, batch in enumerate(loader):
                lr_scheduler.step()
                loss = model(**batch).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
        """, line=2),
        Invalid("""
            for real, _ in loader:
                sched_d.step()
                sched_g.step()
                opt_d.zero_grad()
                d_loss(real).backward()
                opt_d.step()
                opt_g.zero_grad()
                g_loss(real).backward()
                opt_g.step()
        """, line=2),
        Invalid("""
            class Trainer:
                def fit(self):
                    for epoch in range(self.epochs):
                        self.scheduler.step()
                        self.train_epoch()

                def train_epoch(self):
                    for batch in self.loader:
                        self.optimizer.zero_grad()
                        self.model(batch).loss.backward()
                        self.optimizer.step()
        """, line=4),
        Invalid("""
            for x, y in loader:
                scheduler.step()
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
        """, line=2),
        Invalid("""
            epoch = 0
            while epoch < max_epochs:
                warmup_scheduler.step()
                for batch in train_loader:
                    opt.zero_grad()
                    model(batch).mean().backward()
                    opt.step()
                epoch += 1
        """, line=3),
        Invalid("""
            for epoch in range(args.epochs):
                if args.lr_schedule:
                    scheduler.step()
                for i, (images, target) in enumerate(train_loader):
                    optimizer.zero_grad()
                    criterion(model(images), target).backward()
                    optimizer.step()
        """, line=3),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not is_scheduler_step(node):
            return
        events = iteration_events(self.context, "step")
        if events is None:
            return
        first_step = next(i for i, e in enumerate(events) if e.kind == "step")
        position = next((i for i, e in enumerate(events) if e.node is node), None)
        if position is None or position >= first_step or not steps_a_torch_scheduler(self.context, node):
            return
        step = events[first_step].node
        if isinstance(step, cst.Call) and not events[first_step].followed and not steps_a_torch_optimizer(
                self.context, step):
            return  # the optimizer is known to be another framework's
        self.report(node)
