"""dlsan's own code runs on every Python that pyproject.toml declares (``requires-python``).

The full guard is `.ci/run`, which runs the lint test suite on each interpreter the machine has.
These tests run on any interpreter and catch, statically, what breaks the oldest one at import
time: syntax newer than 3.9, ``X | Y`` between classes evaluated at runtime (only annotations may
use it, under ``from __future__ import annotations``), and keywords or names that 3.9 lacks.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OLDEST = (3, 9)
SOURCES = sorted([*REPO.glob("dlsan/**/*.py"), *REPO.glob("rules/*.py")])

#: keyword arguments added after 3.9 to calls dlsan makes
NEW_KEYWORDS = {"zip": {"strict"}, "dataclass": {"slots", "kw_only", "match_args"},
                "field": {"kw_only"}}
#: names added to the standard library after 3.9
NEW_NAMES = {
    "typing": {"TypeAlias", "ParamSpec", "Concatenate", "TypeGuard", "Self", "Never", "LiteralString",
               "Required", "NotRequired", "Unpack", "TypeVarTuple", "assert_never", "reveal_type",
               "dataclass_transform", "override", "is_typeddict"},
    "itertools": {"pairwise", "batched"},
    "contextlib": {"aclosing", "chdir"},
    "dataclasses": {"KW_ONLY"},
    "enum": {"StrEnum", "verify"},
    "tomllib": {"*"},
}


def _requires_python_floor() -> tuple[int, int]:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^requires-python\s*=\s*">=\s*(\d+)\.(\d+)"', text, flags=re.MULTILINE)
    assert match, "pyproject.toml declares no requires-python lower bound"
    return int(match.group(1)), int(match.group(2))


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation (strings under the __future__ import)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        annotations: list[ast.expr | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                     *(a for a in (arguments.vararg, arguments.kwarg) if a is not None)]
            annotations = [a.annotation for a in every] + [node.returns]
        elif isinstance(node, ast.AnnAssign):
            annotations = [node.annotation]
        for annotation in annotations:
            if annotation is not None:
                inside.update(id(sub) for sub in ast.walk(annotation))
    return inside


def _type_like(node: ast.expr) -> bool:
    """A class-looking operand: ``Name``, ``mod.Name``, ``None``, or a subscripted one."""
    if isinstance(node, ast.Subscript):
        return _type_like(node.value)
    if isinstance(node, ast.Constant):
        return node.value is None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _type_like(node.left) and _type_like(node.right)
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    # CONSTANT_CASE names (re.IGNORECASE, flag constants) are values, not classes
    return (name[:1].isupper() and not name.isupper()) or name in {"int", "str", "float", "bool", "bytes", "list", "dict", "tuple",
                                          "set", "frozenset", "type"}


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of nodes under ``if TYPE_CHECKING:`` or a ``sys.version_info`` test (never run on 3.9,
    or guarded)."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = ast.unparse(node.test) if hasattr(ast, "unparse") else ""
            if "TYPE_CHECKING" in test or "version_info" in test:
                guarded.update(id(sub) for branch in node.body for sub in ast.walk(branch))
                if "version_info" in test:
                    guarded.update(id(sub) for branch in node.orelse for sub in ast.walk(branch))
    return guarded


def problems(source: str, filename: str = "<source>") -> Iterator[str]:
    """What in ``source`` would fail on Python 3.9 at import or call time."""
    try:
        tree = ast.parse(source, filename, feature_version=OLDEST)
    except SyntaxError as error:
        yield f"line {error.lineno}: syntax newer than Python {OLDEST[0]}.{OLDEST[1]}: {error.msg}"
        return
    in_annotation = _annotation_nodes(tree)
    guarded = _type_checking_blocks(tree)
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and id(node) not in in_annotation
                and _type_like(node.left) and _type_like(node.right)):
            yield f"line {node.lineno}: `{ast.unparse(node)}` evaluates `|` between classes at runtime"
        if isinstance(node, ast.Call):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for keyword in node.keywords:
                if keyword.arg in NEW_KEYWORDS.get(func, ()):
                    yield f"line {node.lineno}: {func}({keyword.arg}=...) needs Python 3.10"
        if isinstance(node, ast.ImportFrom) and node.module in NEW_NAMES:
            new = NEW_NAMES[node.module]
            for alias in node.names:
                if "*" in new or alias.name in new:
                    yield f"line {node.lineno}: {node.module}.{alias.name} is newer than Python 3.9"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if "*" in NEW_NAMES.get(alias.name, ()):
                    yield f"line {node.lineno}: module {alias.name} is newer than Python 3.9"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.attr in set(NEW_NAMES.get(node.value.id, ())) - {"*"}:
                yield f"line {node.lineno}: {node.value.id}.{node.attr} is newer than Python 3.9"


def test_the_oldest_declared_python_is_the_one_checked_here():
    assert _requires_python_floor() == OLDEST


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_package_and_rules_run_on_the_oldest_python(path):
    assert list(problems(path.read_text(encoding="utf-8"), str(path))) == []


@pytest.mark.parametrize("source, problem", [
    ("import libcst as cst\nContainer = cst.List | cst.Tuple\n", "evaluates `|` between classes"),
    ("x = isinstance(y, int | None)\n", "evaluates `|` between classes"),
    ("match x:\n    case 1:\n        pass\n", "syntax newer"),
    ("for a, b in zip(x, y, strict=True):\n    pass\n", "zip(strict=...)"),
    ("from dataclasses import dataclass\n@dataclass(slots=True)\nclass A:\n    x: int\n", "dataclass(slots=...)"),
    ("from typing import TypeAlias\n", "typing.TypeAlias"),
    ("import itertools\npairs = itertools.pairwise(x)\n", "itertools.pairwise"),
    ("import tomllib\n", "module tomllib"),
])
def test_the_checker_catches_what_breaks_python_3_9(source, problem):
    assert any(problem in found for found in problems(source)), list(problems(source))


@pytest.mark.parametrize("source", [
    "from __future__ import annotations\nimport libcst as cst\ndef f(x: cst.List | None) -> int | str:\n    y: A | B = x\n",
    "import re\nflags = re.IGNORECASE | re.MULTILINE\nmask = A_FLAG | 2\n",
    "import sys\nif sys.version_info >= (3, 11):\n    import tomllib\nelse:\n    import tomli as tomllib\n",
])
def test_the_checker_accepts_what_python_3_9_runs(source):
    assert list(problems(source)) == []
