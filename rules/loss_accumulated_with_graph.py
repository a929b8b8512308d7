from __future__ import annotations

import re

import libcst as cst

from dlsan.lint.analysis.functions import file_index, parameter_names
from dlsan.lint.analysis.grad_mode import grad_disabled, in_evaluation_context
from dlsan.lint.analysis.graph import (
    LOSS,
    GraphKind,
    backpropagated,
    carries_graph,
    graph_kind,
)
from dlsan.lint.analysis.loops import enclosing_loops, enclosing_training_loop, is_optimizer_step
from dlsan.lint.analysis.nodes import ancestors_of, method_name, receiver
from dlsan.lint.context import Fact, FileContext
from dlsan.lint.names import dotted_name
from dlsan.lint.rule import FixSpec, Invalid, Replace, Rule, Valid
from dlsan.lint.semantic import CONDITIONAL, BindingKind, Scope, project
from dlsan.lint.semantic.summaries import summary_of
from dlsan.lint.semantic.values import Kind, may_use_torch, value_of

_ACCUMULATING_METHODS = frozenset({"append", "extend", "update", "add"})
#: (scope, loop, name) -> position of the first binding of the name that runs in every iteration
_FIRST_RESET: Fact[tuple[Scope, cst.CSTNode, str], int | None] = Fact("DLS101 first reset")
#: (scope, name) -> the name's value is only ever printed or logged
_ONLY_LOGGED: Fact[tuple[Scope, str], bool] = Fact("DLS101 only logged")
#: frame -> the plain names its optimizer steps are given (LBFGS closures)
_STEP_CLOSURES: Fact[Scope, frozenset[str]] = Fact("DLS101 step closures")
_ATOMS = (cst.Name, cst.Attribute, cst.Subscript, cst.Call)
_LOGGING_CALL = re.compile(
    r"^(print|pprint|log|log_dict|info|debug|warning|warn|error|write|echo|format|add_scalar|"
    r"add_scalars|set_postfix|set_postfix_str|set_description)$|^log_"
)


class LossAccumulatedWithGraph(Rule):
    """
    ## What it does
    Flags a graph-carrying tensor (a loss, a model output, arithmetic on them) accumulated into
    state that outlives the loop iteration of a training loop, or of an evaluation loop that runs
    with gradients on.

    Accumulating means `total += loss`, `total = total + loss`, `stats[k] += loss`,
    `losses.append(loss)` or `meter.update(loss, n)` into something created before the loop
    (or an attribute). Quiet for `.item()`, `.detach()`, `float()`, `.tolist()`, `.data`, for
    values computed under `torch.no_grad()` / `inference_mode()`, and for summing one step's loss
    terms into a variable created in the same iteration (or one that is then backpropagated).

    ## Why is this bad?
    A loss tensor holds a reference to the autograd graph that produced it. Adding it to a
    running total builds one more graph node per step that references every earlier one, so the
    graphs (and, without `backward()`, their saved activations) of the whole epoch stay alive:
    memory grows step after step until the run dies with an out-of-memory error, and each step
    gets slower. It is the first entry of PyTorch's memory FAQ.

    ## Example
    ```python
    running_loss = 0.0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        running_loss += loss
    ```

    ## Use instead
    ```python
    running_loss = 0.0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    ```

    ## Fix safety
    The fix calls `.item()` on an accumulated loss (`.detach()` on a model output). It is safe
    when the accumulator is a local variable that is only logged (printed, formatted, passed to a
    logger); otherwise unsafe, since later code may expect a tensor (`torch.stack(losses)`,
    `.backward()` on the total) or a device-side value (`.item()` synchronises with the GPU).
    """

    code = "DLS101"
    name = "loss-accumulated-with-graph"
    message = (
        "a graph-carrying tensor is accumulated across iterations: every step's autograd graph "
        "stays alive and memory grows until OOM; accumulate `loss.item()` (or `.detach()`)"
    )
    fix_applicability = "unsafe"
    requires = ("torch", "lightning")

    VALID = [
        # dair-ai/ML-Notebooks notebooks/linear_regression.ipynb: a numpy model of the file's own,
        # with hand-written forward() and backward() methods: no autograd, no graph to keep
        Valid("""
            import numpy as np
            import torch
            class LinearRegression():
                def __init__(self, dim, lr=0.1):
                    self.lr = lr
                    self.w = np.zeros(dim)
                def forward(self, x):
                    return self.w.T @ x
                def backward(self, x, y_hat, y):
                    self.dw = ((y_hat - y) @ x.T).T / x.shape[1]
                def optimize(self):
                    self.w = self.w - self.lr * self.dw
            model = LinearRegression(dim=3)
            train_loss_history = []
            for i in range(100):
                y_hat = model.forward(x_train)
                train_loss = ((y_train - y_hat) ** 2).sum() / 2
                model.backward(x_train, y_hat, y_train)
                model.optimize()
                train_loss_history.append(train_loss)
        """),
        # L1aoXingyu/code-of-learn-deep-learning-with-pytorch neural-transfer/run_code.py: the
        # LBFGS closure sums this step's loss terms, reset at each call
        Valid("""
            import torch
            def run_style_transfer(model, input_param, optimizer, style_loss_list, steps):
                step = 0
                while step < steps:
                    def closure():
                        model(input_param)
                        style_score = 0
                        optimizer.zero_grad()
                        for sl in style_loss_list:
                            style_score += sl.backward()
                        return style_score
                    optimizer.step(closure)
                    step += 1
        """),
        # labmlai/annotated_deep_learning_paper_implementations labml_nn/neox/utils/trainer.py: the
        # loss goes to another library's tracker, whose storage is not ours to judge
        Valid("""
            import torch
            from labml import tracker
            def train_epoch(model, optimizer, loader):
                for sample in loader:
                    optimizer.zero_grad()
                    loss = model(sample)
                    tracker.add({"loss.train": loss})
                    loss.backward()
                    optimizer.step()
        """),
        # jadore801120/attention-is-all-you-need-pytorch train.py: cal_performance returns the loss
        # and two numbers (`.item()`), only the numbers are accumulated
        Valid("""
            import torch
            def cal_performance(pred, gold, trg_pad_idx):
                loss = cal_loss(pred, gold, trg_pad_idx)
                n_correct = pred.eq(gold).masked_select(non_pad_mask).sum().item()
                n_word = non_pad_mask.sum().item()
                return loss, n_correct, n_word
            for batch in training_data:
                optimizer.zero_grad()
                pred = model(src_seq, trg_seq)
                loss, n_correct, n_word = cal_performance(pred, gold, trg_pad_idx)
                loss.backward()
                optimizer.step()
                n_word_total += n_word
                n_word_correct += n_correct
                total_loss += loss.item()
        """),
        # jindongwang/transferlearning ReMoS/CV_adv/distillation_training.py: one step's feature
        # losses summed under the same condition that resets the sum
        Valid("""
            import torch
            for batch, label in train_loader:
                optimizer.zero_grad()
                loss = ce(model(batch), label)
                if args.feat_lmda != 0:
                    regloss = 0
                    for key in reg_layers:
                        regloss += featloss(reg_layers[key][0].out, reg_layers[key][1].out.detach())
                    loss = loss + args.feat_lmda * regloss
                loss.backward()
                optimizer.step()
        """),
        # d2l-ai/d2l-en d2l/torch.py: Accumulator.add stores float(b), the graph is released
        Valid("""
            import torch
            class Accumulator:
                def __init__(self, n):
                    self.data = [0.0] * n
                def add(self, *args):
                    self.data = [a + float(b) for a, b in zip(self.data, args)]
            for epoch in range(num_epochs):
                metric = Accumulator(3)
                for X, y in train_iter:
                    l = loss(net(X), y)
                    trainer.zero_grad()
                    l.mean().backward()
                    trainer.step()
                    metric.add(l.sum(), accuracy(net(X), y), y.numel())
        """),
        # d2l-ai/d2l-en d2l/mxnet.py: MXNet NDArrays carry no torch graph
        Valid("""
            from mxnet import autograd, gluon, np
            for X, y in train_iter:
                with autograd.record():
                    l = loss(net(X), y)
                l.backward()
                trainer.step(batch_size)
                total += l.sum()
        """),
        Valid("""
            import torch
            running_loss = 0.0
            for inputs, targets in loader:
                optimizer.zero_grad()
                loss = criterion(model(inputs), targets)
                loss.backward()
                optimizer.step()
                running_loss += loss.item() * inputs.size(0)
        """),
        Valid("""
            import torch
            losses = []
            for step, batch in enumerate(loader):
                out = model(batch["x"])
                loss = F.mse_loss(out, batch["y"])
                loss.backward()
                opt.step()
                opt.zero_grad()
                losses.append(loss.detach())
        """),
        Valid("""
            import torch
            for batch in loader:
                logits = model(batch.x)
                loss = ce(logits, batch.y)
                loss = loss + 0.1 * model.regularizer()
                loss += 1e-4 * sum(p.pow(2).sum() for p in model.parameters())
                loss.backward()
                optimizer.step()
        """),
        Valid("""
            import torch
            def evaluate(model, loader, criterion):
                model.eval()
                total = 0.0
                with torch.no_grad():
                    for x, y in loader:
                        total += criterion(model(x), y)
                return total / len(loader)
        """),
        Valid("""
            import torch
            @torch.inference_mode()
            def validate(model, loader):
                losses = []
                for x, y in loader:
                    losses.append(F.cross_entropy(model(x), y))
                return torch.stack(losses).mean()
        """),
        Valid("""
            import torch
            class LitModel(pl.LightningModule):
                def training_step(self, batch, batch_idx):
                    x, y = batch
                    loss = 0
                    for head in self.heads:
                        loss += F.cross_entropy(head(x), y)
                    return loss
        """),
        Valid("""
            import torch
            epoch_loss, correct = 0.0, 0
            for images, labels in train_loader:
                outputs = net(images)
                loss = criterion(outputs, labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                epoch_loss += float(loss)
                _, predicted = torch.max(outputs, 1)
                correct += (predicted == labels).sum()
        """),
        Valid("""
            import torch
            accum = 0
            for i, (x, y) in enumerate(loader):
                accum = accum + criterion(model(x), y) / accum_steps
                if (i + 1) % accum_steps == 0:
                    accum.backward()
                    optimizer.step()
                    optimizer.zero_grad()
                    accum = 0
        """),
        Valid("""
            import torch
            history = {"loss": []}
            for epoch in range(10):
                for xb, yb in loader:
                    loss = loss_fn(model(xb), yb)
                    loss.backward()
                    opt.step()
                    history["loss"].append(loss.tolist())
        """),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            running_loss = 0.0
            for inputs, targets in loader:
                optimizer.zero_grad()
                loss = criterion(model(inputs), targets)
                loss.backward()
                optimizer.step()
                running_loss += loss
            print(f"loss {running_loss / len(loader):.4f}")
            """,
            line=8,
            fixed="""
            import torch
            running_loss = 0.0
            for inputs, targets in loader:
                optimizer.zero_grad()
                loss = criterion(model(inputs), targets)
                loss.backward()
                optimizer.step()
                running_loss += loss.item()
            print(f"loss {running_loss / len(loader):.4f}")
            """,
        ),
        Invalid(
            """
            import torch
            def train_epoch(model, loader, optimizer):
                model.train()
                epoch_loss = 0
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = F.cross_entropy(model(x), y)
                    loss.backward()
                    optimizer.step()
                    epoch_loss += loss / len(loader)
                return epoch_loss
            """,
            line=10,
            fixed="""
            import torch
            def train_epoch(model, loader, optimizer):
                model.train()
                epoch_loss = 0
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = F.cross_entropy(model(x), y)
                    loss.backward()
                    optimizer.step()
                    epoch_loss += loss.item() / len(loader)
                return epoch_loss
            """,
        ),
        Invalid(
            """
            import torch
            losses = []
            for batch in train_loader:
                outputs = model(**batch)
                loss = outputs.loss
                accelerator.backward(loss)
                optimizer.step()
                losses.append(loss)
            mean_loss = torch.stack(losses).mean()
            """,
            line=8,
        ),
        Invalid(
            """
            import torch
            stats = {"g": 0.0, "d": 0.0}
            for real, _ in loader:
                fake = netG(torch.randn(real.size(0), 100, 1, 1))
                loss_d = bce(netD(real), ones) + bce(netD(fake.detach()), zeros)
                loss_d.backward()
                opt_d.step()
                loss_g = bce(netD(fake), ones)
                loss_g.backward()
                opt_g.step()
                stats["d"] += loss_d
                stats["g"] += loss_g.item()
            """,
            line=11,
        ),
        Invalid(
            """
            import torch
            meter = AverageMeter()
            for i, (images, target) in enumerate(train_loader):
                output = model(images)
                loss = criterion(output, target)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                meter.update(loss, images.size(0))
            """,
            line=9,
        ),
        Invalid(
            """
            import torch
            def validate(model, val_loader, criterion):
                model.eval()
                val_loss = 0.0
                for x, y in val_loader:
                    val_loss += criterion(model(x), y)
                return val_loss / len(val_loader)
            """,
            line=6,
        ),
        Invalid(
            """
            import torch
            class Trainer:
                def fit(self, loader):
                    for epoch in range(self.epochs):
                        for x, y in loader:
                            loss = self.loss_fn(self.model(x), y)
                            self.optimizer.zero_grad()
                            loss.backward()
                            self.optimizer.step()
                            self.total_loss = self.total_loss + loss
            """,
            line=10,
        ),
        Invalid(
            """
            import torch
            predictions = []
            model.eval()
            def predict(loader):
                for batch in loader:
                    predictions.append(model(batch))
            """,
            line=6,
            fixed="""
            import torch
            predictions = []
            model.eval()
            def predict(loader):
                for batch in loader:
                    predictions.append(model(batch).detach())
            """,
        ),
        Invalid(
            """
            import torch
            total_loss = 0
            for step, batch in enumerate(dataloader):
                with torch.autocast("cuda"):
                    loss = compute_loss(model, batch)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                total_loss += loss
                if step % 100 == 0:
                    print(total_loss / (step + 1))
            """,
            line=9,
            fixed="""
            import torch
            total_loss = 0
            for step, batch in enumerate(dataloader):
                with torch.autocast("cuda"):
                    loss = compute_loss(model, batch)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                total_loss += loss.item()
                if step % 100 == 0:
                    print(total_loss / (step + 1))
            """,
        ),
    ]

    # -- accumulation sites ----------------------------------------------------------------------

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.operator, (cst.AddAssign, cst.SubtractAssign)):
            self._check(node, node.target, node.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        """``total = total + loss``."""
        value = node.value
        if len(node.targets) != 1 or not isinstance(value, cst.BinaryOperation) \
                or not isinstance(value.operator, (cst.Add, cst.Subtract)):
            return
        target = self.context.code(node.targets[0].target)
        if self.context.code(value.left) == target:
            self._check(node, node.targets[0].target, value.right)
        elif isinstance(value.operator, cst.Add) and self.context.code(value.right) == target:
            self._check(node, node.targets[0].target, value.left)

    def visit_Call(self, node: cst.Call) -> None:
        """``losses.append(loss)``, ``meter.update(loss, n)``."""
        if method_name(node) not in _ACCUMULATING_METHODS or not node.args or node.args[0].keyword:
            return
        self._check(node, receiver(node), node.args[0].value)

    # -- the check -------------------------------------------------------------------------------

    def _check(self, site: cst.CSTNode, accumulator: cst.BaseExpression | None, value: cst.BaseExpression) -> None:
        context = self.context
        loops = enclosing_loops(context)
        if not loops or grad_disabled(context):
            return
        loop = enclosing_training_loop(context)
        if loop is None:
            if not in_evaluation_context(context):
                return
            loop = loops[0]
        name = _accumulator_name(accumulator)
        if name is None or not may_use_torch(context) or self._converted_by(site, accumulator) \
                or self._imported(accumulator) or self._local_of_a_step_closure(name):
            return
        kind = graph_kind(context, value, site)
        if not carries_graph(kind):
            return
        flow = context.semantic.walk_function(context.ancestors)
        if name in backpropagated(context, flow) or self._reset_each_iteration(flow, name, loop, site):
            return
        self.report(site, fix=self._fix(flow, name, value, kind))

    def _local_of_a_step_closure(self, name: str) -> bool:
        """``style_score`` of ``def closure(): style_score = 0; for sl in losses: style_score +=
        sl.backward(); return style_score`` passed to ``optimizer.step(closure)`` (LBFGS): each call
        is one step, so the sum of its loop is that step's loss, not a history of steps (the old
        PyTorch neural-style tutorial, as in L1aoXingyu/code-of-learn-deep-learning-with-pytorch
        chapter9_Computer-Vision/neural-transfer/run_code.py)."""
        function = self.context.enclosing(cst.FunctionDef)
        if function is None:
            return False
        scope = self.context.semantic.scope_for(function)
        if name not in scope.bindings or name in scope.declared_outside:
            return False
        around = self.context.semantic.frame_of(function)
        return function.name.value in _STEP_CLOSURES.get(self.context, around, lambda: _passed_to_steps(around))

    def _imported(self, accumulator: cst.BaseExpression | None) -> bool:
        """``tracker.add({"loss": loss})`` with ``from labml import tracker``: what another
        library (not a module of the project) keeps of the value is unknown, so quiet (labmlai/
        annotated_deep_learning_paper_implementations, labml_nn/neox/utils/trainer.py)."""
        root = accumulator
        while isinstance(root, (cst.Attribute, cst.Subscript)):
            root = root.value
        if not isinstance(root, cst.Name):
            return False
        bindings = self.context.semantic.reaching(root.value, root)
        if not bindings or any(b.kind is not BindingKind.IMPORT for b in bindings):
            return False
        qualified = self.context.names.resolve(root)
        return qualified is not None and project.resolve(self.context, qualified) is None

    def _converted_by(self, site: cst.CSTNode, accumulator: cst.BaseExpression | None) -> bool:
        """``metric.add(loss)`` where ``metric`` is an object of a project class whose ``add``
        keeps its arguments only as numbers (``d2l.Accumulator``: ``float(b)``)."""
        if not isinstance(site, cst.Call) or accumulator is None:
            return False
        owner = value_of(self.context, accumulator)
        if owner.kind is not Kind.OBJECT or owner.cls is None:
            return False
        method = file_index(self.context).methods.get(owner.cls.name.value, {}).get(method_name(site) or "")
        return method is not None and summary_of(self.context, method).converts_arguments

    def _reset_each_iteration(self, flow: Scope, name: str, loop: cst.CSTNode, site: cst.CSTNode) -> bool:
        """Whether ``name`` is (re)bound in every iteration of ``loop`` before ``site``."""
        first = _FIRST_RESET.get(self.context, (flow, loop, name), lambda: self._first_reset(flow, name, loop))
        if first is not None and first < flow.position(site):
            return True
        return any(not (b.augmented or b.item) and b.value is not None and flow.contains(loop, b.node)
                   and b.position < flow.position(site) and self._dominates(b.node, site, loop)
                   for b in flow.bindings_of(name))

    def _dominates(self, reset: cst.CSTNode, site: cst.CSTNode, loop: cst.CSTNode) -> bool:
        """Whether ``reset`` (before ``site`` in ``loop``) runs whenever ``site`` does: every branch
        or loop between it and ``loop`` also holds ``site`` (``if lam: reg = 0; for k in ks: reg += ...``)."""
        semantic = self.context.semantic
        site_ancestors = {id(a) for a in semantic.ancestors(site)}
        child: cst.CSTNode = reset
        for ancestor in semantic.ancestors(reset):
            if ancestor is loop:
                return True
            if isinstance(ancestor, CONDITIONAL) and id(child) not in site_ancestors:
                return False
            child = ancestor
        return False

    def _first_reset(self, flow: Scope, name: str, loop: cst.CSTNode) -> int | None:
        """The position of the first plain binding of ``name`` after the start of ``loop`` that
        runs whenever ``loop`` does (computed once per loop and name: one loop may hold
        thousands of accumulation sites)."""
        start = flow.position(loop)
        return min((
            binding.position for binding in flow.bindings_of(name)
            if not (binding.augmented or binding.item) and start < binding.position
            and self.context.semantic.runs_whenever(binding.node, loop)
        ), default=None)

    # -- the fix ---------------------------------------------------------------------------------

    def _fix(self, flow: Scope, name: str, value: cst.BaseExpression, kind: GraphKind | None) -> FixSpec | None:
        leaves = _graph_leaves(self.context, value)
        if not leaves or not all(isinstance(leaf, _ATOMS) for leaf, _ in leaves):
            return None
        edits = []
        for leaf, leaf_kind in leaves:
            method = "item" if leaf_kind == LOSS else "detach"
            edits.append(Replace(leaf, f"{self.context.code(leaf)}.{method}()"))
        safe = self._only_logged(flow, name)
        what = "`.item()`" if kind == LOSS else "`.detach()`"
        return FixSpec(f"Accumulate {what}", edits, "safe" if safe else "unsafe")

    def _only_logged(self, flow: Scope, name: str) -> bool:
        """A local whose value is only ever printed/logged (besides being accumulated); once per
        scope and name, since it reads every binding and read of the name."""
        return _ONLY_LOGGED.get(self.context, (flow, name), lambda: self._compute_only_logged(flow, name))

    def _compute_only_logged(self, flow: Scope, name: str) -> bool:
        bindings = flow.bindings_of(name)
        if "." in name or not bindings or all(b.augmented or b.item for b in bindings):
            return False
        if isinstance(flow.node, cst.FunctionDef) and name in parameter_names(flow.node):
            return False
        for read in flow.reads.get(name, []):
            if not self._logged_or_accumulated(read):
                return False
        return True

    def _logged_or_accumulated(self, read: cst.BaseExpression) -> bool:
        """Printed or logged as a value (``f"{total / n}"``, ``logger.info(total)``), or the
        target of another accumulation. Tensor API use (``total.detach()``) breaks on a float."""
        previous: cst.CSTNode = read
        for ancestor in ancestors_of(self.context, read):
            if isinstance(ancestor, cst.Attribute) and ancestor.value is previous:
                return self._accumulating_method(ancestor)
            if isinstance(ancestor, cst.FormattedString):
                return True
            if isinstance(ancestor, cst.Call):
                called = dotted_name(ancestor.func)
                if called is not None and _LOGGING_CALL.search(called.rsplit(".", 1)[-1]):
                    return True
            if isinstance(ancestor, cst.AugAssign) and ancestor.target is previous:
                return True
            if isinstance(ancestor, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                return False
            previous = ancestor
        return False


    def _accumulating_method(self, attribute: cst.Attribute) -> bool:
        """``losses.append`` in ``losses.append(x)``."""
        parents = ancestors_of(self.context, attribute)
        return bool(parents) and isinstance(parents[0], cst.Call) and parents[0].func is attribute \
            and attribute.attr.value in _ACCUMULATING_METHODS


def _passed_to_steps(frame: Scope) -> frozenset[str]:
    """The plain names given to the optimizer steps among ``frame``'s calls (``optimizer.step(closure)``):
    once per frame, not per function in it and accumulation site in that."""
    return frozenset(arg.value.value for call in frame.calls if is_optimizer_step(call)
                     for arg in call.args if type(arg.value) is cst.Name)  # exact type: libcst's classes are ABCs


def _accumulator_name(node: cst.BaseExpression | None) -> str | None:
    while isinstance(node, cst.Subscript):
        node = node.value
    return dotted_name(node)


def _graph_leaves(context: FileContext, value: cst.BaseExpression) -> list[tuple[cst.BaseExpression, GraphKind | None]]:
    """The graph-carrying operands of ``value`` that a fix must sanitise, with their kinds."""
    if isinstance(value, cst.BinaryOperation):
        return _graph_leaves(context, value.left) + _graph_leaves(context, value.right)
    if isinstance(value, cst.UnaryOperation):
        return _graph_leaves(context, value.expression)
    kind = graph_kind(context, value)
    return [(value, kind)] if carries_graph(kind) else []
