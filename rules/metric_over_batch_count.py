from __future__ import annotations

import libcst as cst

from dlsan.lint.names import dotted_name
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic.model import root_names_read

#: wrappers whose first argument is the iterated loader: ``enumerate(loader)``, ``tqdm(loader)``
_WRAPPERS = frozenset({"enumerate", "tqdm", "iter", "progress_bar", "track"})


def _iterated(loop: cst.For) -> str | None:
    """``loader`` for ``for b in loader`` / ``enumerate(loader)`` / ``tqdm(loader, ...)``."""
    iterable = loop.iter
    if isinstance(iterable, cst.Call) and iterable.args and iterable.args[0].keyword is None:
        func = dotted_name(iterable.func)
        if func is not None and func.rsplit(".", 1)[-1] in _WRAPPERS:
            iterable = iterable.args[0].value
    return dotted_name(iterable)


def _counts_correct(value: cst.BaseExpression) -> bool:
    """``(pred == y).sum()``, ``pred.eq(y).sum().item()``, ``torch.sum(pred == target)``: the number
    of matches in a batch (a comparison, summed)."""
    compared = summed = False
    for node in (value, *_subtree(value)):
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
            return False  # a per-batch fraction (`... / len(y_pred)`), averaged over batches: fine
        if isinstance(node, cst.Comparison) and any(isinstance(t.operator, cst.Equal) for t in node.comparisons):
            compared = True
        elif isinstance(node, cst.Call):
            func = node.func
            last = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
            compared = compared or (isinstance(func, cst.Attribute) and last == "eq")
            summed = summed or last == "sum"
    return compared and summed


def _subtree(node: cst.CSTNode) -> list[cst.CSTNode]:
    found: list[cst.CSTNode] = []
    stack = list(node.children)
    while stack:
        item = stack.pop()
        found.append(item)
        stack.extend(item.children)
    return found


class MetricOverBatchCount(Rule):
    """
    ## What it does
    Flags a count of correct predictions, accumulated batch by batch over a loader
    (`correct += (pred == y).sum()`), divided by `len(loader)`: the number of batches.

    ## Why is this bad?
    `len(loader)` is the number of batches, not of samples, so the "accuracy" comes out
    `batch_size` times too large (accuracies of 3200%, or, scaled down by hand, numbers that are
    wrong whenever the last batch is smaller). Averaging a per-batch mean loss over
    `len(loader)` is fine and is not flagged; counts need the sample count.

    ## Example
    ```python
    for x, y in test_loader:
        correct += (model(x).argmax(1) == y).sum().item()
    accuracy = correct / len(test_loader)
    ```

    ## Use instead
    ```python
    accuracy = correct / len(test_loader.dataset)
    ```
    """

    code = "DLS404"
    name = "metric-over-batch-count"
    message = (
        "`{count}` counts correct predictions over the samples of `{loader}`, but `len({loader})` is "
        "its number of batches; divide by `len({loader}.dataset)` (or a running sample count)"
    )

    VALID = [
        Valid("""
            import torch
            for x, y in test_loader:
                correct += (model(x).argmax(1) == y).sum().item()
            acc = correct / len(test_loader.dataset)
        """),
        Valid("""
            import torch
            for x, y in loader:
                total_loss += loss_fn(model(x), y).item()
            avg = total_loss / len(loader)
        """),
        Valid("""
            import torch
            for x, y in loader:
                correct += (model(x).argmax(1) == y).sum().item()
                total += y.size(0)
            acc = correct / total
        """),
        Valid("""
            import torch
            for sample in dataset:
                correct += int(model(sample.x) == sample.y)
            acc = correct / len(dataset)
        """),
        Valid("""
            import torch
            for x, y in loader:
                acc += (model(x).argmax(1) == y).float().mean().item()
            acc = acc / len(loader)
        """),
        Valid("""
            import torch
            for x, y in other_loader:
                correct += (model(x).argmax(1) == y).sum().item()
            ratio = correct / len(loader)
        """),
        # mrdbourke/pytorch-deep-learning going_modular/engine.py: per-batch accuracy, then its mean
        Valid("""
            import torch
            for X, y in dataloader:
                train_acc += (y_pred_class == y).sum().item() / len(y_pred)
            train_acc = train_acc / len(dataloader)
        """),
        Valid("""
            import torch
            n = len(loader)
            steps = total_steps / len(loader)
        """),
        Valid("""
            import torch
            for i, (x, y) in enumerate(loader):
                hits += torch.sum(pred == y).item()
            acc = hits / len(loader.sampler)
        """),
    ]
    INVALID = [
        Invalid("""
            import torch
            correct = 0
            for x, y in test_loader:
                correct += (model(x).argmax(1) == y).sum().item()
            accuracy = correct / len(test_loader)
        """, line=5),
        Invalid("""
            import torch
            def evaluate(model, loader):
                correct = 0
                for data, target in loader:
                    pred = model(data).argmax(dim=1, keepdim=True)
                    correct += pred.eq(target.view_as(pred)).sum().item()
                return 100. * correct / len(loader)
        """, line=7),
        Invalid("""
            import torch
            for i, (x, y) in enumerate(val_loader):
                _, pred = torch.max(model(x), 1)
                running_corrects += torch.sum(pred == y.data)
            epoch_acc = running_corrects.double() / len(val_loader)
        """, line=5),
        Invalid("""
            import torch
            from tqdm import tqdm
            for x, y in tqdm(self.val_loader, desc="val"):
                n_ok += (self.model(x).argmax(-1) == y).sum()
            print(n_ok / len(self.val_loader))
        """, line=5),
        Invalid("""
            import torch
            for epoch in range(3):
                correct = 0
                for images, labels in train_loader:
                    outputs = net(images)
                    correct += (outputs.argmax(1) == labels).sum().item()
                print("acc", correct / len(train_loader))
        """, line=7),
        Invalid("""
            import torch
            for x, y in loader:
                correct += (model(x).argmax(1) == y).sum().item()
            acc = float(correct) / len(loader)
        """, line=4),
        Invalid("""
            import torch
            for x, y in loader:
                correct += (model(x).argmax(1) == y).sum().item()
            acc = 100 * correct / len(loader)
        """, line=4),
        Invalid("""
            import torch
            for x, y in loader:
                correct += (pred == y).cpu().sum()
            acc = correct.item() / len(loader)
        """, line=4),
    ]

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if not isinstance(node.operator, cst.Divide):
            return
        right = node.right
        if not (isinstance(right, cst.Call) and isinstance(right.func, cst.Name) and right.func.value == "len"
                and len(right.args) == 1):
            return
        loader = dotted_name(right.args[0].value)
        if loader is None:
            return
        for count in sorted(root_names_read(node.left)):
            if self._counted_over(count, loader, node):
                self.report(node, self.message.format(count=count, loader=loader))
                return

    def _counted_over(self, count: str, loader: str, at: cst.CSTNode) -> bool:
        """Whether ``count += <matches in a batch>`` runs in a loop over ``loader`` before ``at``."""
        flow = self.context.semantic.binding_function(self.context.ancestors).frame
        where = flow.position(at)
        for binding in flow.bindings_of(count):
            if not binding.augmented or binding.position > where or binding.value is None:
                continue
            if not _counts_correct(binding.value):
                continue
            loops = [loop for loop in flow.loops if isinstance(loop, cst.For) and flow.contains(loop, binding.node)]
            if any(_iterated(loop) == loader and not flow.contains(loop, at) for loop in loops):
                return True
        return False
