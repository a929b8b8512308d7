from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.functions import base_names, file_index
from dlsan.lint.calls import get_arg, has_unpacking
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic.values import Kind, value_of

_DATALOADER = frozenset({"torch.utils.data.DataLoader"})
#: DataLoader(dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, ...)
_SHUFFLE, _SAMPLER, _BATCH_SAMPLER = 2, 3, 4
_ITERABLE_DATASETS = ("IterableDataset", "IterDataPipe")
_SPLITTERS = frozenset({"torch.utils.data.random_split", "sklearn.model_selection.train_test_split"})


class TrainingLoaderNotShuffled(Rule):
    """
    ## What it does
    Flags a `DataLoader` over the training split (known by provenance: a dataset built with
    `train=True` or `split="train"`) with neither `shuffle=True` nor a `sampler` /
    `batch_sampler`, unless its dataset is an `IterableDataset` of this file. The first part of a
    `random_split` is not taken as training data: real code also splits a test set that way.

    Off by default: the linter cannot tell data whose order carries meaning (time series
    windows, curriculum schedules, a dataset that shuffles itself, sharded streaming data) from
    data left in file order by mistake, and on real code those are common enough to keep the
    rule below the 0.9 precision a default rule needs. Select it with `--extend-select DLS405`
    on projects where training data should always be shuffled.

    ## Why is this bad?
    Without shuffling every epoch sees the batches in the same order, often sorted by class or by
    source: the model drifts towards the last classes of each epoch, batch-norm statistics are
    skewed, and SGD's noise assumptions break. Training converges worse, silently.

    ## Example
    ```python
    train_set = datasets.CIFAR10(root, train=True, transform=tf)
    train_loader = DataLoader(train_set, batch_size=128)
    ```

    ## Use instead
    ```python
    train_loader = DataLoader(train_set, batch_size=128, shuffle=True)
    ```
    """

    code = "DLS405"
    name = "training-loader-not-shuffled"
    message = (
        "this DataLoader over the training split ({evidence}) neither shuffles nor has a sampler, so "
        "every epoch sees the data in the same order; pass `shuffle=True` (or a sampler)"
    )
    default_enabled = False

    VALID = [
        # rasbt/machine-learning-book ch14/ch14_part2.py: a loader over the training set only to
        # show two augmented images; the training loader further down shuffles
        Valid("""
            from torch.utils.data import DataLoader
            import torchvision
            celeba_train_dataset = torchvision.datasets.CelebA(image_path, split='train', download=False)
            data_loader = DataLoader(celeba_train_dataset, batch_size=2)
            for j in range(2):
                img_batch, label_batch = next(iter(data_loader))
        """),
        Valid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            train = datasets.MNIST("data", train=True)
            loader = DataLoader(train, batch_size=64, shuffle=True)
        """),
        Valid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            test = datasets.MNIST("data", train=False)
            loader = DataLoader(test, batch_size=64)
        """),
        Valid("""
            from torch.utils.data import DataLoader, DistributedSampler
            from torchvision import datasets
            train = datasets.MNIST("data", train=True)
            loader = DataLoader(train, batch_size=64, sampler=DistributedSampler(train))
        """),
        Valid("""
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=64)
        """),
        # mrdbourke/pytorch-deep-learning 09_pytorch_model_deployment.py: 20% of the *test* set
        Valid("""
            import torch
            from torchvision import datasets
            test_data = datasets.Food101("data", split="test")
            test_20, _ = torch.utils.data.random_split(test_data, [0.2, 0.8])
            loader = torch.utils.data.DataLoader(test_20, batch_size=32, shuffle=False)
        """),
        Valid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            train = datasets.MNIST("data", train=True)
            loader = DataLoader(train, 64, True)
        """),
        Valid("""
            from torch.utils.data import DataLoader, IterableDataset
            class Stream(IterableDataset):
                def __iter__(self):
                    yield from range(10)
            loader = DataLoader(Stream(), batch_size=4)
        """),
        Valid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            train = datasets.MNIST("data", train=True)
            loader = DataLoader(train, batch_sampler=bucket_sampler)
        """),
        Valid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            train = datasets.MNIST("data", train=True)
            loader = DataLoader(train, **loader_kwargs)
        """),
    ]
    INVALID = [
        # peeked at, and trained on too (udacity/deep-learning-v2-pytorch gan-mnist)
        Invalid("""
            import torch
            from torchvision import datasets
            train_data = datasets.MNIST(root='data', train=True, download=True)
            train_loader = torch.utils.data.DataLoader(train_data, batch_size=64)
            images, labels = next(iter(train_loader))
            for epoch in range(10):
                for real_images, _ in train_loader:
                    pass
        """, line=4),
        Invalid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            train_set = datasets.CIFAR10("data", train=True)
            train_loader = DataLoader(train_set, batch_size=128)
        """, line=4),
        Invalid("""
            import torch
            from torchvision import datasets
            train_set = datasets.MNIST("data", train=True)
            loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=False)
        """, line=4),
        Invalid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            train_set = datasets.Food101("data", split="train")
            train_loader = DataLoader(train_set, batch_size=32)
        """, line=4),
        Invalid("""
            from torch.utils.data import DataLoader
            from torchvision.datasets import FashionMNIST
            loader = DataLoader(FashionMNIST(".", train=True, download=True), batch_size=256)
        """, line=3),
        Invalid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            def make_loader():
                data = datasets.SVHN("data", split="train")
                return DataLoader(data, batch_size=64, num_workers=4)
        """, line=5),
        Invalid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            train = datasets.MNIST("data", train=True)
            loader = DataLoader(train, 64, False)
        """, line=4),
        Invalid("""
            import torch.utils.data as tud
            from torchvision import datasets
            tr = datasets.KMNIST("data", train=True)
            dl = tud.DataLoader(tr, batch_size=16, drop_last=True)
        """, line=4),
        Invalid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            train_set = datasets.CIFAR100(root, train=True, transform=tf)
            train_loader = DataLoader(dataset=train_set, batch_size=128, pin_memory=True)
        """, line=4),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not self.context.names.matches(node.func, _DATALOADER) or has_unpacking(node):
            return
        shuffle = get_arg(node, "shuffle", _SHUFFLE)
        if shuffle is not None and not (isinstance(shuffle.value, cst.Name) and shuffle.value.value == "False"):
            return
        if get_arg(node, "sampler", _SAMPLER) is not None or get_arg(node, "batch_sampler", _BATCH_SAMPLER) is not None:
            return
        value = value_of(self.context, node)
        if value.kind is not Kind.LOADER or value.split is None or value.split.name != "train":
            return
        built = value.split.evidence.node
        if not isinstance(built, cst.Call) or self.context.names.matches(built.func, _SPLITTERS):
            # "part 1 of a random_split" is the training part only when the data split was the
            # full data: mrdbourke/pytorch-deep-learning subsamples its *test* set that way
            return
        if self._iterable_dataset(node) or self._only_peeked_at(node):
            return
        self.report(node, self.message.format(evidence=value.split.evidence.render(self.context)))

    def _only_peeked_at(self, node: cst.Call) -> bool:
        """``loader = DataLoader(train_set, batch_size=2)`` read only as ``next(iter(loader))``, to
        show a batch: no epoch runs over it (rasbt/machine-learning-book ch14_part2, ch17_part1)."""
        semantic = self.context.semantic
        assign = semantic.parent(node)
        if not (type(assign) is cst.Assign and len(assign.targets) == 1 and type(assign.targets[0].target) is cst.Name):
            return False
        name = assign.targets[0].target.value
        pending = [semantic.scope_of(node)]
        reads: list[cst.BaseExpression] = []
        while pending:
            scope = pending.pop()
            reads.extend(scope.reads.get(name, ()))
            pending.extend(scope.children)
        return bool(reads) and all(self._peek(read) for read in reads)

    def _peek(self, read: cst.BaseExpression) -> bool:
        """Whether ``read`` is the ``x`` of ``next(iter(x))``."""
        calls: list[str] = []
        node: cst.CSTNode | None = read
        for _ in range(2):
            arg = self.context.semantic.parent(node) if node is not None else None
            call = self.context.semantic.parent(arg) if type(arg) is cst.Arg else None
            if type(call) is not cst.Call or len(call.args) != 1 or type(call.func) is not cst.Name:
                return False
            calls.append(call.func.value)
            node = call
        return calls == ["iter", "next"]

    def _iterable_dataset(self, node: cst.Call) -> bool:
        dataset = get_arg(node, "dataset", 0)
        built = dataset.value if dataset is not None else None
        if not (isinstance(built, cst.Call) and isinstance(built.func, cst.Name)):
            return False
        cls = file_index(self.context).classes.get(built.func.value)
        return cls is not None and any(name.endswith(_ITERABLE_DATASETS) for name in base_names(self.context, cls))
