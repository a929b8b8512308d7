from __future__ import annotations

import libcst as cst

from dlsan.lint.calls import get_arg, keyword_arg, numeric_value
from dlsan.lint.catalog.torch_api import DATALOADER
from dlsan.lint.catalog.torchvision_api import COMPOSE, RANDOM_ALBUMENTATIONS, is_random_transform
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic.values import value_of

_EVAL_SPLITS = {"val": "validation", "valid": "validation", "validation": "validation", "dev": "validation",
                "test": "test", "testing": "test", "eval": "validation"}
_TRANSFORM_KEYWORDS = ("transform", "transforms")
_MAX_DEPTH = 6
#: how many wrappers (``Subset(val_set, ids)``) to follow to the list that merges the dataset
_MAX_WRAPPERS = 2


class RandomAugmentationInEval(Rule):
    """
    ## What it does
    Flags a dataset built for validation or test data (`train=False`, `split="val"` /
    `"test"`, or known as such by the semantic model) whose `transform=` pipeline contains a
    random transform: torchvision's `Random*`, `ColorJitter`, `RandAugment`, `AutoAugment`,
    `TrivialAugmentWide`, `GaussianBlur` ..., or albumentations' random ones (`HorizontalFlip`,
    `ShiftScaleRotate`, `RandomBrightnessContrast` ... with `p < 1`). A dataset later listed with
    other data (`ConcatDataset([train_set, val_set])`, directly or through a `Subset`) is left
    alone: that split is trained on, where augmentation is right.

    ## Why is this bad?
    Evaluation should measure the model on the data as it is. Random crops, flips and colour
    jitter make every evaluation different (the score is noisy, checkpoint selection follows the
    noise) and biased (usually too low, since the model is scored on distorted images). The
    usual cause is the training pipeline passed to the validation set by copy and paste.

    ## Example
    ```python
    val_set = datasets.CIFAR10(root, train=False, transform=train_transform)
    ```

    ## Use instead
    ```python
    eval_transform = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), normalize])
    val_set = datasets.CIFAR10(root, train=False, transform=eval_transform)
    ```
    """

    code = "DLS406"
    name = "random-augmentation-in-eval"
    message = (
        "this {split} dataset is given a transform pipeline with `{random}`, a random augmentation, "
        "so every evaluation scores different, distorted data; use deterministic transforms "
        "(resize, center crop, normalise) for evaluation"
    )
    requires = ("torchvision", "albumentations")

    VALID = [
        Valid("""
            import torchvision.transforms as T
            from torchvision import datasets
            train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor()])
            test_tf = T.Compose([T.ToTensor()])
            train_set = datasets.CIFAR10("data", train=True, transform=train_tf)
            test_set = datasets.CIFAR10("data", train=False, transform=test_tf)
        """),
        Valid("""
            from torchvision import datasets, transforms
            tf = transforms.Compose([transforms.RandomResizedCrop(224), transforms.ToTensor()])
            ds = datasets.ImageFolder("train", transform=tf)
        """),
        Valid("""
            from torchvision import datasets, transforms
            tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
            ds = datasets.MNIST("data", train=False, transform=tf)
        """),
        Valid("""
            from torchvision import datasets
            ds = datasets.MNIST("data", train=False, transform=make_transform(train=False))
        """),
        Valid("""
            import albumentations as A
            aug = A.Compose([A.HorizontalFlip(p=1.0), A.Normalize()])
            ds = MyDataset(df, split="test", transform=aug)
        """),
        Valid("""
            from torchvision import transforms
            tf = transforms.Compose([transforms.RandomCrop(32)])
            ds = MyDataset(df, train=is_train, transform=tf)
        """),
        Valid("""
            from torchvision import datasets, transforms
            tf = transforms.Compose([transforms.RandomCrop(32)])
            tf = transforms.Compose([transforms.ToTensor()])
            ds = datasets.CIFAR10("data", train=False, transform=tf)
        """),
        Valid("""
            from torchvision import datasets, transforms
            tta = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor()])
            ds = datasets.CIFAR10("data", train=True, transform=tta)
        """),
        # public code (search-index files 22158208910 and 38677795265): the validation split is
        # merged into the training data, so it gets the training augmentation on purpose
        Valid("""
            from torch.utils.data import ConcatDataset, Subset
            from torchvision import transforms
            from torchvision.datasets import Flowers102
            train_tf = transforms.Compose([transforms.RandomResizedCrop(224), transforms.ToTensor()])
            train_set = Flowers102(root, split="train", transform=train_tf)
            val_set = Flowers102(root, split="val", transform=train_tf)
            extra_val = Subset(val_set, ids)
            combined = ConcatDataset([train_set, extra_val])
        """),
    ]
    INVALID = [
        Invalid("""
            import torchvision.transforms as T
            from torchvision import datasets
            train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor()])
            train_set = datasets.CIFAR10("data", train=True, transform=train_tf)
            test_set = datasets.CIFAR10("data", train=False, transform=train_tf)
        """, line=5),
        Invalid("""
            from torchvision import datasets, transforms
            val = datasets.MNIST("data", train=False,
                                 transform=transforms.Compose([transforms.RandomRotation(10), transforms.ToTensor()]))
        """, line=2),
        Invalid("""
            from torchvision import transforms
            tf = transforms.Compose([transforms.ColorJitter(0.4, 0.4, 0.4), transforms.ToTensor()])
            val_ds = LeafDataset(val_df, split="val", transform=tf)
        """, line=3),
        Invalid("""
            import albumentations as A
            aug = A.Compose([A.ShiftScaleRotate(), A.Normalize()])
            test_ds = MyDataset(df, mode="test", train=False, transform=aug)
        """, line=3),
        Invalid("""
            from torchvision.transforms import v2
            from torchvision import datasets
            tf = v2.Compose([v2.RandAugment(), v2.ToTensor()])
            ds = datasets.STL10("data", split="test", transform=tf)
        """, line=4),
        Invalid("""
            import torchvision.transforms as T
            from torchvision.datasets import FashionMNIST
            def loaders():
                aug = T.Compose([T.RandomHorizontalFlip(p=0.5), T.ToTensor()])
                test = FashionMNIST(".", train=False, download=True, transform=aug)
                return test
        """, line=5),
        Invalid("""
            import albumentations as A
            val_aug = A.Compose([A.HorizontalFlip(), A.RandomBrightnessContrast(p=0.2)])
            valid_dataset = CassavaDataset(valid_df, split="valid", transforms=val_aug)
        """, line=3),
        Invalid("""
            from torchvision import datasets, transforms
            t = transforms.Compose([transforms.TrivialAugmentWide(), transforms.ToTensor()])
            ds = datasets.SVHN("data", split="test", transform=t)
        """, line=3),
        Invalid("""
            import torch
            from torchvision import datasets, transforms
            tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.ToTensor()])
            test_set = datasets.CIFAR10("data", train=False, transform=tf)
            test_loader = torch.utils.data.DataLoader(test_set, batch_size=100)
            for phase, loader in [("train", train_loader), ("test", test_loader)]:
                evaluate(model, loader)
        """, line=4),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        transform = next((keyword_arg(node, k) for k in _TRANSFORM_KEYWORDS if keyword_arg(node, k) is not None), None)
        if transform is None:
            return
        split = self._eval_split(node)
        if split is None:
            return
        random = self._random_transform(transform.value, 0)
        if random is not None and not self._merged(node, 0):
            self.report(node, self.message.format(split=split, random=random))

    def _merged(self, expr: cst.BaseExpression, depth: int) -> bool:
        """Whether the dataset built by ``expr`` is later listed with other data and passed on
        (``ConcatDataset([train, val])``), directly or through a wrapper call assigned to a name
        (``extra = Subset(val, ids)``); not through a ``DataLoader``: loaders listed together
        (``for loader in [train_dl, val_dl]``) are still evaluated."""
        assign = self.context.semantic.parent(expr)
        if depth > _MAX_WRAPPERS or not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
            return False
        target = assign.targets[0].target
        if not isinstance(target, cst.Name):
            return False
        flow = self.context.semantic.binding_function(self.context.ancestors).frame
        start, parent_of = flow.position(assign), self.context.semantic.parent
        for read in flow.reads.get(target.value, []):
            if flow.position(read) <= start:
                continue
            parent = parent_of(read)
            if isinstance(parent, cst.Element):
                listed = parent_of(parent)
                if listed is not None and isinstance(parent_of(listed), cst.Arg):
                    return True  # ConcatDataset([train_set, val_set]): a list of datasets passed on
            call = parent_of(parent) if isinstance(parent, cst.Arg) else None
            if isinstance(call, cst.Call) and not self.context.names.matches(call.func, {DATALOADER}) \
                    and self._merged(call, depth + 1):
                return True
        return False

    def _eval_split(self, call: cst.Call) -> str | None:
        """``"validation"`` / ``"test"`` when the dataset built by ``call`` holds evaluation data."""
        known = value_of(self.context, call).split
        if known is not None:
            return known.name if known.name != "train" else None
        train = keyword_arg(call, "train")
        if train is not None:
            return "test" if isinstance(train.value, cst.Name) and train.value.value == "False" else None
        for keyword in ("split", "mode", "subset"):
            arg = keyword_arg(call, keyword)
            if arg is not None and isinstance(arg.value, cst.SimpleString):
                return _EVAL_SPLITS.get(str(arg.value.evaluated_value).lower())
        return None

    def _random_transform(self, expr: cst.BaseExpression, depth: int) -> str | None:
        """The first random transform of a pipeline (a ``Compose([...])`` or a name assigned one)."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, cst.Name):
            assigned = self.context.semantic.value_at(expr)
            return None if assigned is None else self._random_transform(assigned.expr, depth + 1)
        if not isinstance(expr, cst.Call):
            return None
        resolved = self.context.names.resolve(expr.func)
        if resolved is None:
            return None
        if resolved in COMPOSE:
            steps = get_arg(expr, "transforms", 0)
            if steps is None or not isinstance(steps.value, (cst.List, cst.Tuple)):
                return None
            for element in steps.value.elements:
                random = self._random_transform(element.value, depth + 1)
                if random is not None:
                    return random
            return None
        if is_random_transform(resolved):
            return resolved.rsplit(".", 1)[-1]
        if resolved in RANDOM_ALBUMENTATIONS:
            p = keyword_arg(expr, "p")
            if p is not None and numeric_value(p.value) == 1.0:
                return None
            return resolved.rsplit(".", 1)[-1]
        return None
