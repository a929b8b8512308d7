"""Which values come from held-out *test* data, and which decisions they drive.

A value is test data by provenance: the split the semantic model knows a dataset or loader
holds (:attr:`~dlsan.lint.semantic.values.Value.split`: a ``train=False`` dataset, the test part of
a ``train_test_split``, a loader wrapping one) decides, whatever its name.  ``valid_loader =
DataLoader(train_data, sampler=valid_sampler)`` wraps the training data, so it is no test data
even where a later loop over ``test_loader`` reuses the names ``data`` and ``target``.  A
``["test"]`` subscript (``dataset["test"]``) names the split a library keeps under that key.
Identifiers are evidence only when asked for (``by_name``: DLS402's ``test-data-by-name`` option)
and only where provenance is unknown: names whose ``_``-separated words include ``test``
(``test_loader``, ``X_test``, ``test_acc``, ``dl_test``) or glue it to a data word (``testloader``,
``testset``), and calls of a function named like a test run (``test(model, loader)``).  Names that
describe settings rather than data (``test_batch_size``, ``test_interval``, ``test_transform``)
never count.  On public code, half the findings whose only evidence was a name were false: the
"test" loader was the validation split, or the data of a unit test.

Values flow through reaching definitions (:meth:`SemanticModel.reaching`): ``loader =
DataLoader(test_ds)``, ``for x, y in loader: correct += ...``, ``acc = correct / total`` carry
test data from the binding that reaches each use, not from any binding of the same name.  A
*decision* value is a comparison involving test data: ``is_best = test_acc > best_acc``.  Each
answer comes with its evidence, for messages.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

import libcst as cst

from dlsan.lint.analysis.functions import called_function
from dlsan.lint.context import Fact, FileContext
from dlsan.lint.names import dotted_name
from dlsan.lint.semantic import Binding, BindingKind, target_names
from dlsan.lint.semantic.values import Kind, value_of
from dlsan.lint.walk import children

_GLUED = re.compile(r"^test(loader|set|data|dataset|ds|dl|iter|x|y|images|labels)s?$", re.IGNORECASE)
_SETTING_WORDS = frozenset({
    "size", "batch", "bs", "freq", "frequency", "interval", "every", "path", "dir", "file", "files",
    "fn", "func", "mode", "only", "is", "do", "run", "split", "ratio", "frac", "fraction", "transform",
    "transforms", "tfms", "aug", "steps", "iters", "workers", "time", "url", "root", "name", "names",
    "case", "cases", "config", "cfg", "flag", "args", "kwargs", "params", "opts", "options",
})

_IDENTIFIER_WITH_TEST = re.compile(r"\b\w*test\w*\b", re.IGNORECASE)


#: text that builds a test split under any name (``datasets.MNIST(root, train=False)``)
TEST_SPLIT_TOKENS = ("train=False", "random_split")


def mentions_test_data(context: FileContext) -> bool:
    """Whether the file may hold test data: an identifier or string names it, or a test split is
    built (a cheap, per-file gate)."""
    return _MENTIONS_TEST_DATA.get(context, None, lambda: any(token in context.source for token in TEST_SPLIT_TOKENS)
                                   or any(is_test_name(match.group())
                                          for match in _IDENTIFIER_WITH_TEST.finditer(context.source)))


_MENTIONS_TEST_DATA: Fact[None, bool] = Fact("mentions test data")


@functools.lru_cache(maxsize=4096)
def is_test_name(identifier: str) -> bool:
    """``test_loader``, ``X_test``, ``testloader``, ``test_acc``: yes; ``latest``,
    ``test_batch_size``, ``test_transform``: no."""
    words = identifier.lower().strip("_").split("_")
    if any(word in _SETTING_WORDS for word in words):
        return False
    return "test" in words or "testing" in words or bool(_GLUED.match(identifier))




@dataclass(frozen=True)
class TestData:
    """Why a value is test data: the name read where it is used, and the root it comes from."""

    __test__ = False  # not a pytest test class, despite the name

    #: the name read at the use (``acc``)
    name: str
    #: the name the test data enters by (``test_loader``), and what makes it test data
    root: str
    reason: str

    def render(self) -> str:
        """``"`acc` comes from `eval_loader`, which wraps `heldout`, the `train=False` dataset built
        on line 4"``."""
        if self.name == self.root:
            return f"`{self.root}` {self.reason}"
        return f"`{self.name}` comes from `{self.root}`, which {self.reason}"


def evidence_of_test_data(context: FileContext, expr: cst.CSTNode, *, by_name: bool = False) -> str | None:
    """Why ``expr`` reads test data, or ``None`` when it does not; with ``by_name``, a name such
    as ``test_loader`` is evidence where provenance is unknown."""
    found = _flow(context, by_name).test(expr)
    return found.render() if found is not None else None


def decision_evidence(context: FileContext, expr: cst.CSTNode, *, by_name: bool = False) -> str | None:
    """Why ``expr`` is a decision on test data: it compares test-derived values, or reads a name
    that holds such a comparison; ``None`` when it is not one (``by_name`` as above)."""
    found = _flow(context, by_name).decision(expr)
    return found.render() if found is not None else None


_FLOWS: Fact[bool, _HoldoutFlow] = Fact("holdout flow")


def _flow(context: FileContext, by_name: bool) -> _HoldoutFlow:
    return _FLOWS.get(context, by_name, lambda: _HoldoutFlow(context, by_name))


_OTHER_SPLITS = frozenset({"val", "valid", "validation", "dev", "train", "training", "trn"})
_GLUED_OTHER_SPLIT = re.compile(r"^(val|valid|train|dev)(loader|set|data|dataset|ds|dl|iter)s?$", re.IGNORECASE)


class _HoldoutFlow:
    """Test-data and decision answers of one file, memoised per binding."""

    def __init__(self, context: FileContext, by_name: bool) -> None:
        self.context = context
        #: whether a name (``test_loader``) is evidence where provenance is unknown
        self.by_name = by_name
        self.semantic = context.semantic
        self.bindings: dict[int, TestData | None] = {}
        #: (id(function), tuple element or None) -> the test data it returns
        self.returns: dict[tuple[int, int | None], TestData | None] = {}
        self.decisions: dict[int, TestData | None] = {}

    # -- test data -------------------------------------------------------------------------------

    def test(self, expr: cst.CSTNode) -> TestData | None:
        stack: list[cst.CSTNode] = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.Name, cst.Attribute)):
                found = self.name(node)
                if found is not None:
                    return found
                if isinstance(node, cst.Attribute) and self._provenance(node) is None:
                    stack.append(node.value)
            elif isinstance(node, cst.Subscript) and self._part_of_a_training_split(node):
                stack.append(node.value)
            elif isinstance(node, cst.SubscriptElement) and isinstance(node.slice, cst.Index):
                value = node.slice.value
                if isinstance(value, cst.SimpleString):
                    if is_test_name(str(value.evaluated_value)):
                        code = self.context.code(node)
                        return TestData(code, code, "names test data")
                else:
                    stack.append(value)
            elif isinstance(node, cst.Arg):
                stack.append(node.value)
            elif isinstance(node, cst.Call) and self._evaluates_another_split(node):
                stack.extend(arg.value for arg in node.args)  # ``test_epoch(model, valid_loader)``
            elif isinstance(node, cst.Call) and (returned := self.returned(node)) is not None:
                return returned
            elif not isinstance(node, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
                stack.extend(children(node))
        return None

    def name(self, node: cst.Name | cst.Attribute) -> TestData | None:
        """Why the name ``node`` holds test data where it is read: its split, else what reaches
        it, else its name."""
        known = self._provenance(node)
        if known is not None:
            return known or None
        dotted = dotted_name(node)
        if dotted is None:
            return None
        reaching = self.semantic.reaching(dotted, node)
        for binding in reaching:
            found = self.binding(binding)
            if found is not None:
                return TestData(self.context.code(node), found.root, found.reason)
        if self.by_name and is_test_name(dotted.rsplit(".", 1)[-1]) and not self._empty_accumulator(reaching):
            code = self.context.code(node)
            return TestData(code, code, "is named as test data")
        return None

    @staticmethod
    def _empty_accumulator(reaching: list[Binding]) -> bool:
        """Whether every binding that reaches a use is built from constants only
        (``test_loss = tf.keras.metrics.Mean(name="test_loss")`` later fed the validation set,
        ``best_test_loss = float("inf")``): it holds no data of its own, so its name is no evidence
        of what it is compared with or fed."""
        return bool(reaching) and all(b.is_plain and _constant(b.value) for b in reaching)

    def _provenance(self, node: cst.Name | cst.Attribute) -> TestData | None | Literal[False]:
        """``False`` for a value the model knows holds another split, the evidence for a test
        split, ``None`` when its split is unknown."""
        value = value_of(self.context, node)
        split = value.split
        if split is None:
            return None
        if split.name != "test":
            return False
        verb = "wraps" if value.kind is Kind.LOADER else "is"
        code = self.context.code(node)
        return TestData(code, code, f"{verb} {split.evidence.render(self.context)}")

    def _part_of_a_training_split(self, node: cst.Subscript) -> bool:
        """``parts["test"]`` where ``parts = train_data.train_test_split(...)`` (Hugging Face
        datasets): the library's "test" part of data that is no test data is a validation split."""
        container = node.value
        if isinstance(container, (cst.Name, cst.Attribute)):
            located = self.semantic.value_at(container)
            container = located.expr if located is not None else container
        if not (isinstance(container, cst.Call) and isinstance(container.func, cst.Attribute)
                and container.func.attr.value == "train_test_split"):
            return False
        return self.test(container.func.value) is None

    def returned(self, call: cst.Call, part: int | None = None) -> TestData | None:
        """Test data a same-file function returns (``acc = test()`` where ``test()`` counts the
        hits over the ``train=False`` loader); with ``part``, in that element of the tuple it
        returns (``train_acc, val_acc, test_acc = evaluate(...)``).  A returned tuple as a whole is
        none: its parts are asked one by one."""
        cls = self.semantic.enclosing(call, cst.ClassDef)
        function = called_function(self.context, call, cls if isinstance(cls, cst.ClassDef) else None)
        if function is None:
            return None
        key = (id(function), part)
        if key not in self.returns:
            self.returns[key] = None  # a recursive function returns what it returns
            self.returns[key] = self._returned_by(function, part)
        found = self.returns[key]
        if found is None:
            return None
        return TestData(self.context.code(call), found.root, found.reason)

    def _returned_by(self, function: cst.FunctionDef, part: int | None) -> TestData | None:
        for statement in self.semantic.scope_for(function).returns:
            value = statement.value
            if isinstance(value, cst.Tuple):
                if part is None or part >= len(value.elements) or isinstance(value.elements[part], cst.StarredElement):
                    continue
                value = value.elements[part].value
            elif part is not None:
                continue
            found = self.test(value) if value is not None else None
            if found is not None:
                return found
        return None

    def binding(self, binding: Binding) -> TestData | None:
        key = id(binding)
        if key in self.bindings:
            return self.bindings[key]
        self.bindings[key] = None  # a loop-carried binding reaches itself
        found = None
        if (binding.kind is BindingKind.UNPACKING and binding.index is not None and isinstance(binding.value, cst.Call)
                and not binding.element):
            found = self.returned(binding.value, binding.index)
        if found is None and not self._no_data(binding) and binding.value is not None:
            found = self.test(binding.value)
        self.bindings[key] = found
        return found

    def _no_data(self, binding: Binding) -> bool:
        """The counter of ``for i, batch in enumerate(loader)``, and the sibling splits of a
        ``train_loader, test_loader = make_loaders(...)`` whose test part is named as such."""
        value = binding.value
        if (binding.element and binding.index == 0 and isinstance(value, cst.Call)
                and isinstance(value.func, cst.Name) and value.func.value == "enumerate"):
            return True
        if binding.kind is BindingKind.UNPACKING and isinstance(binding.node, cst.Assign):
            names = [n for t in binding.node.targets for n in target_names(t.target, attributes=True)]
            named = [n for n in names if is_test_name(n)]
            return bool(named) and len(named) < len(names) and not is_test_name(binding.name.rsplit(".", 1)[-1])
        return False

    def _evaluates_another_split(self, call: cst.Call) -> bool:
        """A function named like a test run called on a validation or training split: its name says
        what it does, its argument says on which data (``test(f"val_{epoch}", val_loader, model)``)."""
        func = call.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
        if not is_test_name(name):
            return False
        for arg in call.args:
            for item in _names_in(arg.value):
                words = set(item.value.lower().strip("_").split("_"))
                if words & _OTHER_SPLITS or _GLUED_OTHER_SPLIT.match(item.value) or self._provenance(item) is False:
                    return True
        return False

    # -- decisions -------------------------------------------------------------------------------

    def decision(self, expr: cst.CSTNode) -> TestData | None:
        stack: list[cst.CSTNode] = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Comparison):
                for operand in (node.left, *(target.comparator for target in node.comparisons)):
                    found = self.test(operand)
                    if found is not None:
                        return found
            elif isinstance(node, cst.Name):
                for binding in self.semantic.reaching(node.value, node):
                    found = self._binding_decision(binding)
                    if found is not None:
                        return found
                continue
            if not isinstance(node, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
                stack.extend(children(node))
        return None

    def _binding_decision(self, binding: Binding) -> TestData | None:
        key = id(binding)
        if key in self.decisions:
            return self.decisions[key]
        self.decisions[key] = None
        found = self.decision(binding.value) if binding.value is not None else None
        self.decisions[key] = found
        return found


def _constant(expr: cst.BaseExpression | None) -> bool:
    """A literal, or a call of anything on literals only (``float("inf")``, ``Mean(name="x")``)."""
    if isinstance(expr, (cst.SimpleString, cst.Integer, cst.Float)):
        return True
    if isinstance(expr, cst.Name):
        return expr.value in ("True", "False", "None")
    if isinstance(expr, cst.UnaryOperation):
        return _constant(expr.expression)
    if isinstance(expr, cst.Call) and isinstance(expr.func, (cst.Name, cst.Attribute)):
        return all(_constant(arg.value) for arg in expr.args)
    return False


def _names_in(node: cst.CSTNode) -> list[cst.Name]:
    found, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Name):
            found.append(item)
        elif not isinstance(item, (cst.Lambda, cst.FunctionDef)):
            stack.extend(children(item))
    return found
