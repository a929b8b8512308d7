from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.callers import call_sites
from dlsan.lint.analysis.functions import file_index, parameter_names
from dlsan.lint.analysis.optimizers import grad_events
from dlsan.lint.calls import get_arg, numeric_value
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic.model import names_read
from dlsan.lint.semantic.scopes import BindingKind
from dlsan.lint.semantic.values import Kind, value_of

_WHAT = {Kind.OPTIMIZER: "optimizer", Kind.SCHEDULER: "LR scheduler"}
_SGD = "torch.optim.SGD"


def _roots(expr: cst.CSTNode) -> set[str]:
    """The variables ``expr`` reads: ``model`` in ``model.encoder.parameters()`` (attribute names
    are not variables)."""
    found: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            found.add(node.value)
        elif isinstance(node, cst.Attribute):
            stack.append(node.value)
        else:
            stack.extend(node.children)
    return found


def _stateless(call: cst.Call, resolved: str | None) -> bool:
    """``torch.optim.SGD(params, lr)`` without momentum: nothing is lost when it is rebuilt."""
    if resolved != _SGD:
        return False
    momentum = get_arg(call, "momentum", 2)
    return momentum is None or numeric_value(momentum.value) == 0


class OptimizerRebuiltInLoop(Rule):
    """
    ## What it does
    Flags an optimizer or LR scheduler constructed inside a training loop on every iteration:
    in a loop that itself steps the optimizer (per batch), or in an epoch loop
    (`for epoch in ...`) around the batch loop, also through a same-file function that returns
    one. Not flagged: a construction under a condition (a change of stage), one whose
    parameters come from a model rebuilt in the same loop (cross-validation folds,
    hyper-parameter searches), or a plain `SGD` without momentum, which keeps no state.

    ## Why is this bad?
    A new optimizer starts with empty state: SGD's momentum, Adam's moment estimates and step
    count, and a scheduler's position in its schedule are thrown away every time. Adam then keeps
    taking its bias-corrected first steps, momentum never builds up, and the learning rate never
    decays. The model still trains, worse, with nothing to show why.

    ## Example
    ```python
    for epoch in range(epochs):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for x, y in loader:
            ...
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        for x, y in loader:
            ...
    ```
    """

    code = "DLS511"
    name = "optimizer-rebuilt-in-loop"
    message = (
        "this {what} is built anew {when}, which throws away its state (momentum, Adam's moment "
        "estimates, the schedule) every time; build it once before the loop"
    )

    VALID = [
        # search-index file 15532748372: SGD without momentum has no state to lose
        Valid("""
            import torch
            for epoch in range(num_epochs):
                optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
                for x, y in loader:
                    optimizer.zero_grad()
                    crit(model(x), y).backward()
                    optimizer.step()
        """),
        Valid("""
            import torch
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            for epoch in range(10):
                for x, y in loader:
                    loss = crit(model(x), y)
                    loss.backward()
                    optimizer.step()
        """),
        Valid("""
            import torch
            for fold, (tr, va) in enumerate(kfold.split(X)):
                model = Net()
                optimizer = torch.optim.Adam(model.parameters())
                for epoch in range(10):
                    loss.backward()
                    optimizer.step()
        """),
        Valid("""
            import torch
            for epoch in range(epochs):
                if epoch == unfreeze_at:
                    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
                for x, y in loader:
                    loss.backward()
                    optimizer.step()
        """),
        Valid("""
            import torch
            for lr in [1e-2, 1e-3]:
                optimizer = torch.optim.SGD(model.parameters(), lr=lr)
                for x, y in loader:
                    loss.backward()
                    optimizer.step()
        """),
        Valid("""
            import torch
            for epoch in range(epochs):
                model = build()
                opt = torch.optim.Adam(model.parameters())
                loss.backward()
                opt.step()
        """),
        Valid("""
            import torch
            def fit(model, loader):
                opt = torch.optim.Adam(model.parameters())
                for x, y in loader:
                    model(x).sum().backward()
                    opt.step()
            for seed in range(5):
                model = Net()
                fit(model, loader)
        """),
        Valid("""
            import torch
            def main(args):
                model = Net()
                opt = torch.optim.SGD(model.parameters(), lr=args.lr)
                for x, y in loader:
                    model(x).sum().backward()
                    opt.step()
            for run in range(3):
                main(args)
        """),
        Valid("""
            import torch
            for name in ["sgd", "adam"]:
                opt = torch.optim.SGD(params)
        """),
        Valid("""
            import torch
            for epoch in range(epochs):
                evaluate(model)
                sched = torch.optim.lr_scheduler.StepLR(opt, 10)
        """),
        Valid("""
            import torch
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=100)
            for epoch in range(100):
                for x, y in loader:
                    loss.backward()
                    optimizer.step()
                scheduler.step()
        """),
    ]
    INVALID = [
        Invalid("""
            import torch
            for epoch in range(10):
                optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
                for x, y in loader:
                    loss = crit(model(x), y)
                    loss.backward()
                    optimizer.step()
        """, line=3),
        Invalid("""
            import torch
            for x, y in loader:
                optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
                optimizer.zero_grad()
                crit(model(x), y).backward()
                optimizer.step()
        """, line=3),
        Invalid("""
            import torch.optim as optim
            def train(model, loader, epochs):
                for epoch in range(epochs):
                    opt = optim.AdamW(model.parameters(), lr=3e-4)
                    for batch in loader:
                        model(batch).mean().backward()
                        opt.step()
                        opt.zero_grad()
        """, line=4),
        Invalid("""
            import torch
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(100):
                scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
                for x, y in loader:
                    loss.backward()
                    optimizer.step()
                scheduler.step()
        """, line=4),
        Invalid("""
            import torch
            def make_optimizer(model):
                return torch.optim.Adam(model.parameters(), lr=1e-3)
            for epoch in range(5):
                optimizer = make_optimizer(model)
                for x, y in loader:
                    loss.backward()
                    optimizer.step()
        """, line=5),
        Invalid("""
            from torch.optim import Adam
            for step, batch in enumerate(loader):
                opt = Adam(self.model.parameters())
                loss = self.model(batch)
                loss.backward()
                opt.step()
        """, line=3),
        Invalid("""
            import torch
            for n_epoch in range(num_epochs):
                optimizer = torch.optim.RMSprop(net.parameters(), lr=lr)
                for i, data in enumerate(trainloader):
                    outputs = net(data[0])
                    loss = criterion(outputs, data[1])
                    loss.backward()
                    optimizer.step()
        """, line=3),
        # alan-turing-institute/deepsensor issue #47 (fixed by the maintainer): train_epoch built
        # a new Adam on every call, so momentum was lost between epochs
        Invalid("""
            import torch
            def train_epoch(model, tasks, lr=5e-5):
                opt = torch.optim.Adam(model.model.parameters(), lr=lr)
                for task in tasks:
                    opt.zero_grad()
                    loss = model.loss_fn(task)
                    loss.backward()
                    opt.step()
            for epoch in range(n_epochs):
                train_epoch(model, train_tasks)
        """, line=3),
        Invalid("""
            import torch
            while not done:
                optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
                loss = policy_loss(policy, batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """, line=3),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        resolved = self.context.names.resolve(node.func)
        local = type(node.func) is cst.Name and node.func.value in file_index(self.context).functions
        if not local and (resolved is None or not resolved.startswith("torch.optim.")):
            return  # cheap: only torch.optim constructors and same-file factories can build one
        value = value_of(self.context, node)
        if value.kind not in _WHAT or not value.is_torch or value.origin is None or _stateless(node, resolved):
            return
        semantic = self.context.semantic
        loops = semantic.loops_around(node)
        if not loops:
            self._built_per_call(node, _WHAT[value.kind])
            return
        if not semantic.runs_whenever(node, loops[0]):
            return
        loop = loops[0]
        when = self._rebuilt_when(loop)
        if when is None or self._reads_rebound(node, node, loop):
            return
        self.report(node, self.message.format(what=_WHAT[value.kind], when=when))

    def _built_per_call(self, node: cst.Call, what: str) -> None:
        """A function that builds the optimizer and trains with it, called in a loop: every call
        starts from a fresh optimizer (``train_epoch(model, ...)`` called per epoch)."""
        function = self.context.enclosing(cst.FunctionDef)
        if function is None or not self.context.semantic.runs_whenever(node, function):
            return
        if not any(e.kind == "step" for e in grad_events(self.context, function, self.context.enclosing(cst.ClassDef))):
            return
        roots = {name for arg in node.args for name in _roots(arg.value)}
        local = {name for name, found in self.context.semantic.scope_for(function).bindings.items()
                 if any(b.kind is not BindingKind.PARAMETER for b in found)}
        if not roots or not roots <= parameter_names(function) or roots & local:
            return  # the model is built in the function itself: a fresh optimizer is right
        for site in call_sites(self.context, function):
            loops = self.context.semantic.loops_around(site)
            if loops and not self._reads_rebound(site, site, loops[0]):
                when = f"on every call of `{function.name.value}`, which the loop on {self.context.place_of(loops[0])} makes"
                self.report(node, self.message.format(what=what, when=when))
                return

    def _rebuilt_when(self, loop: cst.For | cst.While) -> str | None:
        """"in every training step" / "every epoch" when ``loop`` trains, else ``None``."""
        events = [e for e in grad_events(self.context, loop, self.context.enclosing(cst.ClassDef))
                  if e.kind in ("step", "backward")]
        if not events:
            return None
        semantic = self.context.semantic
        if any(semantic.loops_around(e.node)[:1] == [loop] for e in events):
            return "in every training step"
        target = loop.target if isinstance(loop, cst.For) else None
        if isinstance(target, (cst.Name, cst.Tuple)) and "epoch" in self.context.code(target).lower():
            return "every epoch"
        return None

    def _reads_rebound(self, node: cst.Call, call: cst.Call, loop: cst.For | cst.While) -> bool:
        """Whether a name ``call`` reads (the model whose parameters the optimizer takes) is bound
        anew inside the loop: a fresh model per fold or per trial needs a fresh optimizer."""
        flow = self.context.semantic.frame_of(node)
        read = {name for arg in call.args for name in names_read(arg.value)}
        assigned = self.context.parent() if node is call else None
        return any(flow.contains(loop, binding.node) and binding.node is not assigned
                   for name in read for binding in flow.bindings_of(name))
