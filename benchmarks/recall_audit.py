"""Recall-test audit: cited real-code cases per rule and per mechanism of issue 12.

Issue 12's "done when" asks for at least 40 recall cases written from real code, each citing its
source, covering every mechanism the linter could not see ("What it cannot see": a validation run
through ``self._forward_pass()``, ``train()`` imported from the project's ``engine.py``, ...).
This script counts them instead of a person:

* a **case** is a test function (``def test_*`` not parametrised over a case list), an element of a
  module-level case list (``FOUND = [("DLS503", source)]``), or a rule's ``Valid``/``Invalid``
  example, in ``tests/lint/*.py`` and ``rules/*.py``;
* it is **cited** when the comments right above it, its docstring or its own comments (and, for a
  test function, the comments above the module-level sources it reads) name a public URL, a GitHub
  ``owner/repo`` with a path or an issue, or a search-index file id;
* it **finds** (tests recall) when it expects a finding: an ``Invalid`` example, an element of a list
  named ``FOUND``/``INVALID`` or whose expected lines are not empty, a test function whose name does
  not say ``quiet``;
* its **mechanisms** are read from its code with the tests of :data:`MECHANISMS`.

Usage::

    python benchmarks/recall_audit.py            # the table, and the mechanisms with no cited case
    python benchmarks/recall_audit.py --cases    # also every cited case that finds, with its file

Exit status 1 when a mechanism has no cited case that finds, or fewer than 40 cited cases find.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_CASES = 40

def _all(*patterns: str) -> Callable[[str], bool]:
    """A test that every one of ``patterns`` occurs in the code."""
    compiled = [re.compile(p) for p in patterns]
    return lambda code: all(p.search(code) for p in compiled)


def _in_body(function: str, pattern: str) -> Callable[[str], bool]:
    """A test that ``pattern`` occurs in the body of a ``def`` whose name matches ``function``."""
    header = re.compile(rf"^([ \t]*)def\s+{function}\(", re.MULTILINE)
    wanted = re.compile(pattern)

    def test(code: str) -> bool:
        lines = code.splitlines()
        for number, line in enumerate(lines):
            match = header.match(line)
            if match is None:
                continue
            indent = len(match.group(1))
            for inner in lines[number + 1:]:
                if inner.strip() and len(inner) - len(inner.lstrip()) <= indent:
                    break
                if wanted.search(inner):
                    return True
        return False

    return test


#: issue 12's "What it cannot see", each with the test that shows a case's code exercises it
MECHANISMS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "forward-pass-helper": ("validation through `self._forward_pass()` or a same-file helper",
                            _all(r"\b_?forward_pass\(")),
    "engine-import": ("`train()` imported from the project's own engine.py", _all(r"from\s+\.?engine\s+import\s")),
    "appended-sequential": ("last layer appended to a list that becomes `nn.Sequential(*layers)`",
                            _all(r"\.append\(", r"nn\.Sequential\(\s*\*")),
    "wrapped-cross-entropy": ("a loss module wrapping `F.cross_entropy`",
                              _in_body("forward", r"(?:F|functional)\.cross_entropy\(")),
    "forward-returns-tuple": ("a `forward` returning a tuple", _in_body("forward", r"^\s*return\s+[^#\n]+,")),
    "sum-of-losses": ("`sum(losses)` accumulated with its graph", _all(r"\bsum\(\s*\w*loss\w*\s*\)")),
    "expand": ("`expand_as` / `expand` broadcasting like the implicit form", _all(r"\.expand(?:_as)?\(")),
    "generate": ("`model.generate()` as running the model", _all(r"\.generate\(")),
    "fit-resample": ("imbalanced-learn samplers (`fit_resample`)", _all(r"\.fit_(?:re)?sample\(")),
    "preprocessing-function": ("the function forms (`preprocessing.scale`)",
                               _all(r"preprocessing\.(?:scale|minmax_scale|robust_scale|normalize)\(")),
    "legacy-imputer": ("legacy classes (`Imputer`)", _all(r"(?<![\w.])Imputer\(")),
    "keras-validation-data": ("Keras `fit(validation_data=...)` with checkpoint/early-stopping callbacks",
                              _all(r"validation_data\s*=", r"ModelCheckpoint|EarlyStopping")),
    "split-in-helper": ("a split done in a helper", _in_body(r"\w+", r"\b(?:train_test_split|random_split)\(")),
}

_URL = re.compile(r"https?://[^\s)>\]]+")
_REPOSITORY = re.compile(r"\b[A-Za-z0-9][\w.-]*/[\w.-]+(?:\s+(?:issue|PR|pull)\s*#\d+|#\d+|\s+[\w./-]+\.(?:py|ipynb)\b|/blob/)")
_INDEX_FILE = re.compile(r"search-index file \d+")
_CODE = re.compile(r"\bDLS\d{3}\b")


@dataclass
class Case:
    path: Path
    line: int
    rules: frozenset[str]
    finds: bool
    citation: str | None
    mechanisms: frozenset[str] = field(default_factory=frozenset)


def citation_of(text: str) -> str | None:
    """The first public source ``text`` names: a URL, ``owner/repo`` with a path or issue, or a
    search-index file id."""
    for pattern in (_URL, _REPOSITORY, _INDEX_FILE):
        found = pattern.search(text)
        if found is not None:
            return found.group(0)
    return None


def mechanisms_of(code: str) -> frozenset[str]:
    return frozenset(name for name, (_, test) in MECHANISMS.items() if test(code))


class _File:
    """One source file: its tree, its comments by line, and the comment block above each line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.lines = self.text.splitlines()
        self.tree = ast.parse(self.text)
        self.comments: dict[int, str] = {}
        for token in tokenize.generate_tokens(io.StringIO(self.text).readline):
            if token.type == tokenize.COMMENT:
                self.comments[token.start[0]] = token.string

    def comments_above(self, line: int) -> str:
        """The comment-only lines right above ``line`` (a blank line ends the block)."""
        found: list[str] = []
        current = line - 1
        while current >= 1 and self.lines[current - 1].strip().startswith("#"):
            found.append(self.comments.get(current, ""))
            current -= 1
        return "\n".join(reversed(found))

    def comments_within(self, node: ast.expr | ast.stmt) -> str:
        start, end = node.lineno, node.end_lineno or node.lineno
        return "\n".join(text for line, text in self.comments.items() if start <= line <= end)


def _strings(node: ast.AST) -> str:
    return "\n".join(n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def _start(node: ast.expr | ast.stmt) -> int:
    """The first line of ``node``, its decorators included."""
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _parametrised_over(function: ast.FunctionDef, lists: set[str]) -> bool:
    names = {n.id for d in function.decorator_list for n in ast.walk(d) if isinstance(n, ast.Name)}
    return bool(names & lists)


def _list_cases(source: _File, name: str, value: ast.List | ast.Tuple, rules: frozenset[str]) -> list[Case]:
    cases = []
    for element in value.elts:
        if not isinstance(element, (ast.Tuple, ast.Call)):
            continue
        code = _strings(element)
        own = set(_CODE.findall(code.split("\n", 1)[0])) if isinstance(element, ast.Tuple) else set()
        expected = [e for e in element.elts if isinstance(e, ast.List)] if isinstance(element, ast.Tuple) else []
        if isinstance(element, ast.Call):
            finds = isinstance(element.func, ast.Name) and element.func.id == "Invalid"
        elif expected:
            finds = bool(expected[-1].elts)
        else:
            finds = not any(word in name.upper() for word in ("QUIET", "VALID", "LOOK"))
        text = source.comments_above(_start(element)) + "\n" + source.comments_within(element)
        cases.append(Case(source.path, element.lineno, frozenset(own) or rules, finds, citation_of(text),
                          mechanisms_of(code)))
    return cases


def cases_in(path: Path) -> list[Case]:
    """Every case of one test or rule file."""
    source = _File(path)
    module_strings: dict[str, tuple[str, str]] = {}
    lists: dict[str, ast.List | ast.Tuple] = {}
    found: list[Case] = []
    for statement in source.tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            name = statement.targets[0].id
            if isinstance(statement.value, (ast.List, ast.Tuple)) and any(
                    isinstance(e, (ast.Tuple, ast.Call)) for e in statement.value.elts):
                lists[name] = statement.value
            module_strings[name] = (_strings(statement.value), source.comments_above(_start(statement)))
    file_rules = frozenset(_CODE.findall(path.stem.upper()))
    for name, value in lists.items():
        found.extend(_list_cases(source, name, value, file_rules))
    for statement in source.tree.body:
        if isinstance(statement, ast.ClassDef):
            found.extend(_rule_examples(source, statement))
        if not (isinstance(statement, ast.FunctionDef) and statement.name.startswith("test_")):
            continue
        if _parametrised_over(statement, set(lists)):
            continue
        read = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name)} & set(module_strings)
        code = _strings(statement) + "\n" + "\n".join(module_strings[n][0] for n in sorted(read))
        text = "\n".join([source.comments_above(_start(statement)), ast.get_docstring(statement) or "",
                          source.comments_within(statement), *(module_strings[n][1] for n in sorted(read))])
        rules = frozenset(_CODE.findall(statement.name.upper() + "\n" + code)) or file_rules
        found.append(Case(path, statement.lineno, rules, "quiet" not in statement.name, citation_of(text),
                          mechanisms_of(code)))
    return found


def _rule_examples(source: _File, cls: ast.ClassDef) -> list[Case]:
    code = next((s.value.value for s in cls.body if isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant)
                 and any(isinstance(t, ast.Name) and t.id == "code" for t in s.targets)), None)
    if not isinstance(code, str):
        return []
    cases = []
    for statement in cls.body:
        if (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.List)
                and any(isinstance(t, ast.Name) and t.id in ("VALID", "INVALID") for t in statement.targets)):
            cases.extend(_list_cases(source, "", statement.value, frozenset({code})))
    return cases


def audit(root: Path = ROOT) -> list[Case]:
    paths = sorted((root / "tests" / "lint").glob("*.py")) + sorted((root / "rules").glob("*.py"))
    return [case for path in paths for case in cases_in(path)]


def report(cases: list[Case], show_cases: bool = False) -> tuple[str, bool]:
    cited = [c for c in cases if c.citation is not None]
    finding = [c for c in cited if c.finds]
    lines = [f"cases: {len(cases)}; cited: {len(cited)} ({len(finding)} expect a finding, "
             f"{len(cited) - len(finding)} look-alikes that must stay quiet)", "", "per rule (cited, finding / quiet):"]
    per_rule = Counter(rule for c in finding for rule in c.rules)
    quiet_rule = Counter(rule for c in cited if not c.finds for rule in c.rules)
    for rule in sorted(set(per_rule) | set(quiet_rule)):
        lines.append(f"  {rule}  {per_rule[rule]:3d} / {quiet_rule[rule]:3d}")
    lines += ["", "per mechanism of issue 12 (cited cases that expect a finding):"]
    missing = []
    for name, (description, _) in MECHANISMS.items():
        count = sum(1 for c in finding if name in c.mechanisms)
        lines.append(f"  {count:3d}  {name:24s} {description}")
        if count == 0:
            missing.append(name)
    lines.append("")
    lines.append("mechanisms with no cited case: " + (", ".join(missing) if missing else "none"))
    enough = len(finding) >= REQUIRED_CASES
    lines.append(f"cited cases that expect a finding: {len(finding)} (needed: {REQUIRED_CASES})")
    if show_cases:
        lines += ["", "cited cases that expect a finding:"]
        for c in finding:
            where = f"{c.path.relative_to(ROOT)}:{c.line}"
            lines.append(f"  {where:55s} {','.join(sorted(c.rules)):16s} {c.citation}")
    return "\n".join(lines), not missing and enough


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cases", action="store_true", help="list every cited case that expects a finding")
    args = parser.parse_args(argv)
    text, complete = report(audit(), args.cases)
    print(text)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
