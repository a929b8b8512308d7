from __future__ import annotations

import re
from functools import partial

import libcst as cst

from dlsan.lint.analysis.callers import call_sites, enclosing_class_of
from dlsan.lint.analysis.functions import (
    callee,
    is_module_class,
    parameter_names,
)
from dlsan.lint.analysis.grad_mode import (
    disables_grad,
    function_disables_grad,
    is_eval_function_name,
)
from dlsan.lint.analysis.loops import is_optimizer_step, trains
from dlsan.lint.analysis.models import is_backward_call, model_name, run_receiver
from dlsan.lint.analysis.modes import (
    REPORT_UNRESOLVED,
    ModeEvent,
    last_mode_before,
    mode_relevance,
    scope_events,
)
from dlsan.lint.context import Fact, FileContext
from dlsan.lint.files import is_test_module
from dlsan.lint.names import OWN_MODULE, dotted_name
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic import Scope
from dlsan.lint.semantic.summaries import argument_for, summary_of

#: pytest's `test_*` functions are tests, not evaluation loops; these names are evaluation loops
_EVAL_LOOP_TESTS = frozenset({"test_epoch", "test_loop", "test_one_epoch", "test_step", "test_batch"})
_EVALUATED_PARAMETER = re.compile(r"model|net$|loader|dataset", re.IGNORECASE)
#: (scope, model) pairs already reported, per rule instance
_REPORTED: Fact[Rule, set[tuple[int, str]]] = Fact("DLS301 reported")
#: whether a ``with torch.no_grad():`` block is part of a training step
_IN_TRAINING_STEP: Fact[cst.With, bool] = Fact("DLS301 in training step")
_EVALUATION_CONTEXT: Fact[tuple[Rule, cst.CSTNode | None], str | None] = Fact("DLS301 evaluation context")
#: the kinds of ancestor :meth:`MissingEvalMode._evaluation_context` reads (exact types: the parser
#: builds no subclasses of them)
_EVALUATION_ANCHORS = frozenset({cst.With, cst.FunctionDef, cst.Lambda, cst.ClassDef})


class MissingEvalMode(Rule):
    """
    ## What it does
    Flags a model run in an evaluation context with no `.eval()` (or `.train(False)`) before it.

    An evaluation context is a `torch.no_grad()` / `torch.inference_mode()` block or decorated
    function, or a function named like an evaluation (`evaluate`, `validate`, `val_epoch`, `test`,
    `predict`, `inference`...). Calls to functions of the same file are followed: a
    `validate(model)` whose body calls `model.eval()` counts, and so does an `.eval()` before every
    call of the evaluating function. Quiet for `self(...)` and sub-modules inside a module's own
    methods (Lightning's `validation_step` included: Lightning switches modes itself), for
    framework hooks (methods of classes derived from another library's class), for `no_grad`
    blocks inside a training step (targets, teacher outputs, EMA updates, samples), for runs whose
    output is dropped (`model(x)` as a statement: calibration, batch-norm statistics, hooks
    capturing inputs), and for pytest's `test_*` functions and methods of `Test` classes.

    ## Why is this bad?
    `no_grad()` only turns gradient tracking off; the model stays in training mode. Dropout still
    drops activations at random and batch norm normalises with the statistics of the evaluation
    batch and updates its running averages with them. Validation metrics come out noisy and
    pessimistic, predictions change from run to run, and evaluating on the test set silently
    alters the model's running statistics.

    ## Example
    ```python
    def evaluate(model, loader):
        correct = 0
        with torch.no_grad():
            for x, y in loader:
                correct += (model(x).argmax(1) == y).sum().item()
        return correct / len(loader.dataset)
    ```

    ## Use instead
    ```python
    def evaluate(model, loader):
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in loader:
                correct += (model(x).argmax(1) == y).sum().item()
        return correct / len(loader.dataset)
    ```

    ## Options
    `report-unresolved` (default `false`): also report a model whose class cannot be resolved, or
    whose layers are not all known, after following the project's files (a checkpoint loaded with
    `torch.load`, a model passed in from another library); the message says so. Off by default
    because the mode matters only for models with dropout or batch-norm: on public code nobody had
    tuned the rule on, every such finding was false (a tokenizer, Llama blocks with RMSNorm only).
    ```toml
    [tool.dlsan.rule-options.DLS301]
    report-unresolved = true
    ```
    """

    code = "DLS301"
    name = "missing-eval-mode"
    message = (
        "model run for evaluation while still in training mode ({evidence}): `no_grad()` does not switch off "
        "dropout or batch-norm statistic updates; call `model.eval()` first (and `.train()` after)"
    )
    requires = ("torch",)
    options = {REPORT_UNRESOLVED: False}

    VALID = [
        # a pytest test computes and checks its outputs itself, under inference_mode too
        # (rasbt/LLMs-from-scratch, pkg/llms_from_scratch/tests/test_qwen3.py)
        Valid(
            """
            import torch
            from llms_from_scratch.qwen3 import Qwen3Model

            @torch.inference_mode()
            def test_dummy_qwen3_forward(dummy_cfg_base, dummy_input):
                model = Qwen3Model(dummy_cfg_base)
                out = model(dummy_input)
                assert out.shape == (1, dummy_input.size(1), dummy_cfg_base["vocab_size"])

            def test_matches_reference(cfg):
                hf_model = Qwen3ForCausalLM(cfg)
                with torch.no_grad():
                    theirs = hf_model(x).logits
            """
        ),
        # pytorch/examples super_resolution: Net is conv + relu + pixel-shuffle, the mode changes nothing
        Valid("""
            import torch
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self, upscale_factor):
                    super().__init__()
                    self.relu = nn.ReLU()
                    self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
                    self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
                def forward(self, x):
                    return self.pixel_shuffle(self.conv1(self.relu(x)))
            model = Net(upscale_factor=3)
            def test():
                with torch.no_grad():
                    for batch in testing_data_loader:
                        prediction = model(batch[0])
        """),
        # rasbt/LLMs-from-scratch ch03/03_understanding-buffers/understanding-buffers.ipynb: the
        # attention's only mode-dependent layer is a dropout whose rate the instance sets to 0.0
        Valid("""
            import torch
            import torch.nn as nn
            class CausalAttention(nn.Module):
                def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
                    super().__init__()
                    self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
                    self.dropout = nn.Dropout(dropout)
                    self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))
                def forward(self, x):
                    return self.dropout(self.W_query(x))
            ca = CausalAttention(d_in, d_out, context_length, 0.0)
            with torch.no_grad():
                context_vecs = ca(batch)
        """),
        # labmlai/annotated_deep_learning_paper_implementations labml_nn/transformers/retro/
        # bert_embeddings.py: a tokenizer called under no_grad is no model
        Valid("""
            import torch
            from transformers import BertModel, BertTokenizer
            class BERTChunkEmbeddings:
                def __init__(self, device):
                    self.tokenizer = BertTokenizer.from_pretrained("bert-base-uncased")
                    self.model = BertModel.from_pretrained("bert-base-uncased")
                    self.model.to(device)
                def __call__(self, chunks):
                    with torch.no_grad():
                        tokens = self.tokenizer(chunks, return_tensors="pt", padding=True)
                        return self.model(**tokens)["last_hidden_state"]
        """),
        # d2l-ai/d2l-en d2l/mxnet.py: MXNet has no .eval(); the mode is autograd.record()
        Valid("""
            from mxnet import autograd, gluon, np
            def evaluate_accuracy(net, data_iter):
                metric = Accumulator(2)
                for X, y in data_iter:
                    metric.add(accuracy(net(X), y), y.size)
                return metric[0] / metric[1]
        """),
        Valid("""
            import torch
            def evaluate(model, loader):
                model.eval()
                with torch.no_grad():
                    for x, y in loader:
                        out = model(x)
        """),
        Valid("""
            import torch
            def validate(model, loader):
                model.train(False)
                return [model(x) for x, _ in loader]
        """),
        Valid("""
            import torch
            import torch.nn as nn
            class Net(nn.Module):
                @torch.no_grad()
                def predict(self, x):
                    return self(x).argmax(-1)
                def validation_step(self, batch, batch_idx):
                    x, y = batch
                    return F.cross_entropy(self.model(x), y)
        """),
        Valid("""
            import torch
            @torch.no_grad()
            def update_ema(ema_model, model, decay=0.999):
                for ema_p, p in zip(ema_model.parameters(), model.parameters()):
                    ema_p.mul_(decay).add_(p, alpha=1 - decay)
        """),
        Valid("""
            import torch
            def set_eval(m):
                m.eval()
            def run_validation(model, loader):
                set_eval(model)
                with torch.no_grad():
                    return [model(x) for x in loader]
        """),
        Valid("""
            import torch
            for i, (real, _) in enumerate(loader):
                loss_d = criterion(netD(real), ones)
                loss_d.backward()
                opt_d.step()
                if i % 500 == 0:
                    with torch.no_grad():
                        samples = netG(fixed_noise).cpu()
        """),
        Valid("""
            import torch
            def predict(model, x):
                with torch.no_grad():
                    return model(x)
            model = Net()
            model.load_state_dict(torch.load("w.pt", weights_only=True))
            model.eval()
            print(predict(model, batch))
        """),
        # karpathy/minGPT projects/adder/adder.py: `eval_split` runs the global model, and its only
        # caller, the batch-end callback, calls `model.eval()` first
        Valid("""
            import torch
            model = GPT(config.model)
            def eval_split(trainer, split):
                loader = DataLoader(datasets[split], batch_size=100)
                for b, (x, y) in enumerate(loader):
                    d1d2d3 = model.generate(x[:, :4], 3, do_sample=False)
            def batch_end_callback(trainer):
                if trainer.iter_num % 500 == 0:
                    model.eval()
                    with torch.no_grad():
                        train_score = eval_split(trainer, "train")
                        test_score = eval_split(trainer, "test")
                    model.train()
        """),
        Valid("""
            import torch
            def test_forward_shape():
                model = Net()
                assert model(torch.randn(2, 3)).shape == (2, 10)
        """),
        Valid("""
            import torch
            with torch.no_grad():
                for p in model.parameters():
                    p.clamp_(-0.01, 0.01)
                nn.init.zeros_(model.fc.bias)
        """),
        Valid("""
            import torch
            from transformers import Trainer
            class MyTrainer(Trainer):
                def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
                    with torch.no_grad():
                        return model(**inputs)
        """),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            def evaluate(model, loader):
                correct = 0
                with torch.no_grad():
                    for x, y in loader:
                        correct += (model(x).argmax(1) == y).sum().item()
                return correct / len(loader.dataset)
            model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.Dropout(0.5), torch.nn.Linear(256, 10))
            print(evaluate(model, test_loader))
            """,
            line=6,
        ),
        Invalid(
            """
            import torch
            import torchvision
            model = torchvision.models.resnet50(weights="DEFAULT")
            model.load_state_dict(torch.load("finetuned.pt", weights_only=True))
            with torch.inference_mode():
                logits = model(images)
            """,
            line=6,
        ),
        Invalid(
            """
            import torch
            import torch.nn as nn
            @torch.no_grad()
            def predict(net, batch):
                return net(batch).softmax(-1)
            net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))
            probabilities = predict(net, images)
            """,
            line=5,
        ),
        Invalid(
            """
            import torch
            from torchvision.models import resnet18
            model = resnet18(num_classes=10)
            model.eval()
            for epoch in range(epochs):
                model.train()
                for x, y in train_loader:
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                with torch.no_grad():
                    val_loss = sum(criterion(model(x), y).item() for x, y in val_loader)
            """,
            line=12,
        ),
        Invalid(
            """
            import torch
            import torchvision
            class Trainer:
                def __init__(self, val_loader, loss_fn):
                    self.model = torchvision.models.resnet18()
                    self.val_loader, self.loss_fn = val_loader, loss_fn
                def validate(self):
                    losses = []
                    for batch in self.val_loader:
                        with torch.no_grad():
                            losses.append(self.loss_fn(self.model(batch["x"]), batch["y"]).item())
                    return sum(losses) / len(losses)
            """,
            line=11,
        ),
        Invalid(
            """
            import torch
            import torchvision
            def val_epoch(encoder, loader):
                feats = []
                for images in loader:
                    feats.append(encoder(images).detach())
                return torch.cat(feats)
            backbone = torchvision.models.resnet50()
            val_features = val_epoch(backbone, val_loader)
            """,
            line=6,
        ),
        Invalid(
            """
            import torch
            def train_one_epoch(model, loader, optimizer):
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    F.cross_entropy(model(x), y).backward()
                    optimizer.step()
            def evaluate(model, loader):
                with torch.no_grad():
                    return sum((model(x).argmax(1) == y).sum().item() for x, y in loader)
            model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.Dropout(0.1), torch.nn.Linear(64, 2))
            for epoch in range(10):
                train_one_epoch(model, train_loader, optimizer)
                print(evaluate(model, val_loader))
            """,
            line=10,
        ),
        Invalid(
            """
            import torch
            import torch.nn as nn
            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.2), nn.Linear(8, 2))
                def forward(self, x):
                    return self.fc(x)
            clf = Classifier()
            clf.load_state_dict(state)
            with torch.no_grad():
                preds = clf(features).argmax(dim=1)
            """,
            line=12,
        ),
        Invalid(
            """
            import timm
            import torch
            def inference(model, transform, images):
                batch = torch.stack([transform(image) for image in images])
                with torch.no_grad():
                    outputs = model(batch)
                return outputs.argmax(-1)
            model = timm.create_model("vit_base_patch16_224", num_classes=10)
            labels = inference(model, transform, images)
            """,
            line=6,
        ),
        Invalid(
            """
            import torch
            import torch.nn as nn
            class CausalAttention(nn.Module):
                def __init__(self, d_in, d_out, dropout=0.1):
                    super().__init__()
                    self.W_query = nn.Linear(d_in, d_out)
                    self.dropout = nn.Dropout(dropout)
                def forward(self, x):
                    return self.dropout(self.W_query(x))
            ca = CausalAttention(d_in, d_out)
            with torch.no_grad():
                context_vecs = ca(batch)
            """,
            line=12,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        func_type = type(node.func)  # exact types (every call): libcst's classes are slow-to-ask ABCs
        if not (func_type is cst.Name or func_type is cst.Attribute) or type(context.parent()) is cst.Expr:
            return  # a run whose output is dropped is for its side effects: hooks, calibration, BN stats
        evaluation = self._evaluation_context()
        if evaluation is None:
            return
        cls = context.enclosing(cst.ClassDef)
        run = self._model_run(node, cls)
        if run is None:
            return
        model, model_expr = run
        if cls is not None and (_module_like(context, cls) or _derives_from_library(context, cls)
                                or "Test" in cls.name.value):
            return
        scope = context.semantic.walk_function(context.ancestors).node
        reported = _REPORTED.get(context, self, set)
        if (id(scope), model) in reported or not self._runs_in_training_mode(scope, node, model, cls, evaluation):
            return
        relevance = mode_relevance(context, [model_expr], bool(self.settings[REPORT_UNRESOLVED]))
        if not relevance.matters:
            return
        reported.add((id(scope), model))
        self.report(node, self.message.format(evidence=relevance.evidence))

    def _model_run(self, call: cst.Call, cls: cst.ClassDef | None) -> tuple[str, cst.BaseExpression] | None:
        """The model ``call`` runs (its dotted name and an expression holding it): the callee of
        ``model(x)`` or ``model.generate(ids)``, or what a helper runs for us
        (``forward_pass(model, batch)``, ``self._forward_pass(batch)``; see :class:`FunctionSummary`)."""
        context = self.context
        model = model_name(context, call)
        if model is not None:
            return model, run_receiver(call)
        target = callee(context, call, cls)
        if target is None:
            return None
        for run in summary_of(target.context, target.function, target.within(context, cls)).runs:
            expr = argument_for(call, target.function, run.position) if run.position is not None else run.node
            if expr is None or (run.node is not None and target.context is not context):
                continue
            name = dotted_name(expr)
            if name is not None:
                return name, expr
        return None

    # -- is this an evaluation? ------------------------------------------------------------------

    def _evaluation_context(self) -> str | None:
        """``"no_grad"`` inside a no_grad block/decorator that is not part of a training step,
        ``"name"`` in a function named like an evaluation, else ``None``.

        Answered once per innermost enclosing ``with``/``def``/``lambda``/``class``: every node
        below it and above the walk's node is of none of those kinds, so the answer (which reads
        only those kinds of ancestors, and the ancestors above them) is the same for every call
        in between."""
        chain = self.context.ancestors
        anchor = next((node for node in reversed(chain) if type(node) in _EVALUATION_ANCHORS), None)
        return _EVALUATION_CONTEXT.get(self.context, (self, anchor), self._compute_evaluation_context)

    def _compute_evaluation_context(self) -> str | None:
        context = self.context
        within = context.enclosing(cst.ClassDef)
        function = context.enclosing(cst.FunctionDef)
        if function is not None and _is_pytest_test(context, function):
            return None
        chain = context.ancestors
        for index in range(len(chain) - 1, -1, -1):
            node = chain[index]
            # exact types, as for the anchors
            if type(node) is cst.With and any(disables_grad(context, i.item) for i in node.items):
                in_step = _IN_TRAINING_STEP.get(context, node, partial(self._in_training_step, chain[:index], within))
                return None if in_step else "no_grad"
            if type(node) is cst.FunctionDef:
                if function_disables_grad(context, node):
                    return "no_grad"
                return "name" if self._evaluation_function(node, within) else None
            if type(node) is cst.Lambda or type(node) is cst.ClassDef:
                return None
        return None

    def _evaluation_function(self, function: cst.FunctionDef, within: cst.ClassDef | None) -> bool:
        """Named like an evaluation and not training. A ``test*`` function is a pytest test unless it
        takes a model or a data loader (``def test(model, device, test_loader)``)."""
        name = function.name.value.lstrip("_")
        if not is_eval_function_name(name) or trains(self.context, function, within):
            return False
        return not _is_pytest_test(self.context, function)

    def _in_training_step(self, outer: list[cst.CSTNode], within: cst.ClassDef | None) -> bool:
        """Whether the innermost loop (or function, or module) around a no_grad block runs a
        training step itself, outside nested loops: the block then computes targets, teacher
        outputs or samples for that step rather than evaluating."""
        context = self.context
        region: cst.CSTNode = next((n for n in reversed(outer) if isinstance(n, (cst.For, cst.While, cst.FunctionDef))),
                                   context.module)
        scope = region if isinstance(region, (cst.FunctionDef, cst.Module)) else context.semantic.function_of(region).node
        flow = context.semantic.scope_for(scope)
        calls = flow.calls if region is scope else flow.calls_within(region)
        nested = [loop for loop in flow.loops if loop is not region and (region is scope or flow.contains(region, loop))]
        return any(
            self._is_step(call, within) for call in calls if not any(flow.contains(loop, call) for loop in nested)
        )

    def _is_step(self, call: cst.Call, within: cst.ClassDef | None) -> bool:
        """``loss.backward()``, ``opt.step()``, or a call of a per-step function of the project (one
        that trains without looping, unlike a whole training epoch)."""
        if is_backward_call(self.context, call) or is_optimizer_step(call):
            return True
        target = callee(self.context, call, within)
        return (target is not None and not target.context.semantic.scope_for(target.function).loops
                and summary_of(target.context, target.function, target.within(self.context, within)).trains)

    # -- which mode is the model in? -------------------------------------------------------------

    def _runs_in_training_mode(self, scope: cst.CSTNode, call: cst.Call, model: str, cls: cst.ClassDef | None,
                               evaluation: str) -> bool:
        context = self.context
        flow = context.semantic.scope_for(scope)
        events = scope_events(context, scope, cls)
        at = flow.position(call)
        last = last_mode_before(events, flow.order, at, model)
        if last is not None:
            # `model.train()` right before the call is deliberate (updating batch-norm statistics);
            # left over from training steps in between, it is the bug
            return last.kind == "train" and _steps_between(flow, events, last, at)
        if _switched_later_in_loop(flow, events, call, model):
            return False
        root = model.split(".", 1)[0]
        if root == "self" and cls is not None:
            return not any(self._switches_mode(scope_events(context, method, cls), model)
                           for method in cls.body.body if isinstance(method, cst.FunctionDef))
        if isinstance(scope, cst.FunctionDef):
            if root in parameter_names(scope):
                sites = call_sites(context, scope)
                if not sites:
                    # an evaluation function should set the mode itself; a utility (`eval_fn`
                    # callbacks, shape propagation) leaves it to a caller we cannot see
                    return evaluation == "no_grad" and is_eval_function_name(scope.name.value)
                return not any(self._eval_before(site) for site in sites)
            if not flow.bindings_of(root):  # a global: set up anywhere in the file, or by every caller
                sites = call_sites(context, scope)
                if sites and all(self._eval_before(site) for site in sites):
                    return False
                return not self._switches_mode(scope_events(context, context.module), model)
        return True

    def _eval_before(self, site: cst.Call) -> bool:
        scope = self.context.semantic.function_of(site).node
        flow = self.context.semantic.scope_for(scope)
        events = scope_events(self.context, scope, enclosing_class_of(self.context, site))
        last = last_mode_before(events, flow.order, flow.position(site), None)
        return last is not None and last.kind != "train"

    @staticmethod
    def _switches_mode(events: list[ModeEvent], model: str) -> bool:
        return any(e.kind in ("eval", "unknown") and e.applies_to(model) for e in events)


def _switched_later_in_loop(flow: Scope, events: list[ModeEvent], call: cst.Call, model: str) -> bool:
    """An ``.eval()`` later in a loop around ``call`` reaches it from the second iteration on."""
    position = flow.position(call)
    for loop in flow.loops:
        if flow.contains(loop, call) and any(
            e.kind in ("eval", "unknown") and e.applies_to(model) and flow.position(e.origin) > position
            and flow.contains(loop, e.origin)
            for e in events
        ):
            return True
    return False


def _steps_between(flow: Scope, events: list[ModeEvent], start: ModeEvent, at: int) -> bool:
    """Whether a training step comes after the event ``start`` and before position ``at``."""
    index = next(i for i, event in enumerate(events) if event is start)
    return any(e.kind == "step" and flow.order.get(id(e.origin), at) < at for e in events[index + 1:])


def _is_pytest_test(context: FileContext, function: cst.FunctionDef) -> bool:
    """A pytest test (``test_*``, not an evaluation loop named ``test_epoch``... outside a pytest
    test module), unless it takes a model or a data loader (``def test(model, device, test_loader)``
    evaluates).  A test compares outputs it computes itself, so a mode that mattered would show as
    a failing test; under ``@torch.inference_mode()`` too (rasbt/LLMs-from-scratch's model tests).
    In a test module (``test_*.py``, ``*_test.py``) ``test_batch`` is a test too
    (pyg-team/pytorch_geometric test/nn/models/test_basic_gnn.py)."""
    name = function.name.value.lstrip("_")
    if not name.startswith("test"):
        return False  # before the path is read: asked of the function around every call
    loop_names = () if is_test_module(context.path) else _EVAL_LOOP_TESTS
    return name not in loop_names and not any(_EVALUATED_PARAMETER.search(p) for p in parameter_names(function))


def _module_like(context: FileContext, cls: cst.ClassDef) -> bool:
    """An ``nn.Module`` (also through a conditional base such as
    ``pl.LightningModule if pl else nn.Module``)."""
    return is_module_class(context, cls) or any("Module" in context.code(base.value) for base in cls.bases)


def _derives_from_library(context: FileContext, cls: cst.ClassDef) -> bool:
    """A class extending another library's class (a HF ``Trainer``, a Lightning ``Callback``):
    its methods are hooks that the library calls in a mode it has already set."""
    return any(_is_library_name(context.names.resolve(base.value)) for base in cls.bases)


def _is_library_name(qualified: str | None) -> bool:
    """A name imported from another package, not from the project (relative, or the file itself)."""
    return qualified is not None and not qualified.startswith((".", OWN_MODULE))
