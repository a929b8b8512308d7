"""Which values of a function come from held-out *test* data, and which decisions they drive.

Test data is recognised by name, as types are unknown: identifiers whose ``_``-separated words
include ``test`` (``test_loader``, ``X_test``, ``test_acc``, ``dl_test``) or that glue it to a data
word (``testloader``, ``testset``), a ``["test"]`` subscript, or a call of a function named like
a test run (``test(model, loader)``, ``run_test(...)``).  Names that describe settings rather than
data (``test_batch_size``, ``test_interval``, ``test_transform``) do not count.

Within one function (or the module), assignments propagate it: ``loader = DataLoader(test_ds)``,
``for x, y in test_loader: correct += ...``, ``acc = correct / total`` all carry test data, found by
iterating the function's assignments to a fixpoint.  A *decision* value is a comparison involving
test data: ``is_best = test_acc > best_acc``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import libcst as cst

from dlsan.lint.context import Fact, FileContext
from dlsan.lint.semantic import target_names
from dlsan.lint.walk import children

_GLUED = re.compile(r"^test(loader|set|data|dataset|ds|dl|iter|x|y|images|labels)s?$", re.IGNORECASE)
_SETTING_WORDS = frozenset({
    "size", "batch", "bs", "freq", "frequency", "interval", "every", "path", "dir", "file", "files",
    "fn", "func", "mode", "only", "is", "do", "run", "split", "ratio", "frac", "fraction", "transform",
    "transforms", "tfms", "aug", "steps", "iters", "workers", "time", "url", "root", "name", "names",
    "case", "cases", "config", "cfg", "flag", "args", "kwargs", "params", "opts", "options",
})
_FIXPOINT_ROUNDS = 3


_IDENTIFIER_WITH_TEST = re.compile(r"\b\w*test\w*\b", re.IGNORECASE)


def mentions_test_data(context: FileContext) -> bool:
    """Whether any identifier or string of the file names test data (a cheap, per-file gate)."""
    return _MENTIONS_TEST_DATA.get(context, None, lambda: any(
        is_test_name(match.group()) for match in _IDENTIFIER_WITH_TEST.finditer(context.source)))


_MENTIONS_TEST_DATA: Fact[None, bool] = Fact("mentions test data")


@functools.lru_cache(maxsize=4096)
def is_test_name(identifier: str) -> bool:
    """``test_loader``, ``X_test``, ``testloader``, ``test_acc``: yes; ``latest``,
    ``test_batch_size``, ``test_transform``: no."""
    words = identifier.lower().strip("_").split("_")
    if any(word in _SETTING_WORDS for word in words):
        return False
    return "test" in words or "testing" in words or bool(_GLUED.match(identifier))


@dataclass
class Taint:
    #: names holding test data or values computed from it
    data: set[str] = field(default_factory=set)
    #: names holding a comparison of such values (``is_best``)
    decisions: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Reads:
    """What an expression reads, collected in one walk: its identifiers (names, attribute names,
    string subscripts; not keywords), the plain names among them, and each comparison's identifiers."""

    identifiers: frozenset[str]
    names: frozenset[str]
    comparisons: tuple[frozenset[str], ...]

    def test_data(self, taint: Taint) -> bool:
        return _any_test(self.identifiers, taint)

    def decision(self, taint: Taint) -> bool:
        return bool(self.names & taint.decisions) or any(_any_test(c, taint) for c in self.comparisons)


def _any_test(identifiers: frozenset[str], taint: Taint) -> bool:
    return bool(identifiers & taint.data) or any(is_test_name(name) for name in identifiers)


def reads_of(expr: cst.CSTNode) -> Reads:
    identifiers: set[str] = set()
    names: set[str] = set()
    comparisons: list[frozenset[str]] = []
    stack: list[cst.CSTNode] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            identifiers.add(node.value)
            names.add(node.value)
        elif isinstance(node, cst.Attribute):
            identifiers.add(node.attr.value)
            stack.append(node.value)
        elif isinstance(node, cst.SubscriptElement) and isinstance(node.slice, cst.Index):
            value = node.slice.value
            if isinstance(value, cst.SimpleString):
                identifiers.add(str(value.evaluated_value))
            else:
                stack.append(value)
        elif isinstance(node, cst.Arg):
            stack.append(node.value)
        elif isinstance(node, cst.Call) and _evaluates_another_split(node):
            stack.extend(arg.value for arg in node.args)  # ``test_epoch(model, valid_loader)``
        elif isinstance(node, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
            continue
        else:
            if isinstance(node, cst.Comparison):
                comparisons.append(reads_of_comparison(node))
            stack.extend(children(node))
    return Reads(frozenset(identifiers), frozenset(names), tuple(comparisons))


_GLUED_OTHER_SPLIT = re.compile(r"^(val|valid|train|dev)(loader|set|data|dataset|ds|dl|iter)s?$", re.IGNORECASE)
_OTHER_SPLITS = frozenset({"val", "valid", "validation", "dev", "train", "training", "trn"})


def _evaluates_another_split(call: cst.Call) -> bool:
    """A function named like a test run called on a validation or training split: its name says
    what it does, its argument says on which data (``test(f"val_{epoch}", val_loader, model)``)."""
    func = call.func
    name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
    if not is_test_name(name):
        return False
    for arg in call.args:
        for item in _names_in(arg.value):
            words = set(item.lower().strip("_").split("_"))
            if words & _OTHER_SPLITS or _GLUED_OTHER_SPLIT.match(item):
                return True
    return False


def _names_in(node: cst.CSTNode) -> list[str]:
    found, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Name):
            found.append(item.value)
        elif not isinstance(item, (cst.Lambda, cst.FunctionDef)):
            stack.extend(children(item))
    return found


def reads_of_comparison(node: cst.Comparison) -> frozenset[str]:
    inner = [reads_of(node.left), *(reads_of(target.comparator) for target in node.comparisons)]
    return frozenset().union(*(r.identifiers for r in inner))


def reads_test_data(expr: cst.CSTNode, taint: Taint) -> bool:
    return reads_of(expr).test_data(taint)


def reads_decision(expr: cst.CSTNode, taint: Taint) -> bool:
    """Whether ``expr`` compares test-derived values, or reads a name that holds such a comparison."""
    return reads_of(expr).decision(taint)


def _assignments(context: FileContext, scope: cst.CSTNode) -> list[tuple[list[str], cst.CSTNode]]:
    """(target names, value) for every assignment, ``for`` loop and ``with ... as`` in ``scope``."""
    found: list[tuple[list[str], cst.CSTNode]] = []
    for node in context.semantic.scope_for(scope).frame.nodes:
        if isinstance(node, cst.Assign):
            found.extend(_assigned_pairs(node))
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)) and node.value is not None:
            found.append((target_names(node.target, attributes=True), node.value))
        elif isinstance(node, (cst.For, cst.CompFor)):
            found.append((_element_names(node.target, node.iter), node.iter))
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            found.append((target_names(node.asname.name, attributes=True), node.item))
    return found


def _element_names(target: cst.BaseExpression, iterable: cst.BaseExpression) -> list[str]:
    """The names a ``for`` target takes from the data: ``for i, (x, y) in enumerate(loader)``
    gives ``x, y`` (the counter ``i`` is no data)."""
    if (isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) and iterable.func.value == "enumerate"
            and isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2):
        return target_names(target.elements[1].value, attributes=True)
    return target_names(target, attributes=True)


def _assigned_pairs(node: cst.Assign) -> list[tuple[list[str], cst.CSTNode]]:
    """``a, b = x, 0`` pairs each name with its own value; other assignments bind all to all."""
    target, value = node.targets[0].target, node.value
    if (len(node.targets) == 1 and isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List))
            and len(target.elements) == len(value.elements)
            and not any(isinstance(e, cst.StarredElement) for e in (*target.elements, *value.elements))):
        return [(target_names(t.value, attributes=True), v.value) for t, v in zip(target.elements, value.elements)]
    return [([n for t in node.targets for n in target_names(t.target, attributes=True)], value)]


def _receivers_of_test_data(targets: list[str]) -> list[str]:
    """``train_loader, test_loader = make_loaders(train_ds, test_ds)``: the test part is named as
    such; its siblings hold the other splits.  Unnamed unpacking (``loss, acc = ...``) is all test."""
    named = [t for t in targets if is_test_name(t)]
    return named if named and len(named) < len(targets) else targets


def taint(context: FileContext, scope: cst.CSTNode) -> Taint:
    """The test-data and decision names of ``scope`` (a function, or the module)."""

    def compute() -> Taint:
        result = Taint()
        assignments = [(targets, reads_of(value)) for targets, value in _assignments(context, scope)]
        for _ in range(_FIXPOINT_ROUNDS):
            before = (len(result.data), len(result.decisions))
            for targets, reads in assignments:
                if reads.test_data(result):
                    result.data.update(_receivers_of_test_data(targets))
                if reads.decision(result):
                    result.decisions.update(targets)
            if (len(result.data), len(result.decisions)) == before:
                break
        return result

    return _TAINT.get(context, scope, compute)


_TAINT: Fact[cst.CSTNode, Taint] = Fact("holdout taint")
