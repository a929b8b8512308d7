"""The engine never crashes on input, runs every rule in one walk, and honours suppressions."""

from __future__ import annotations

import libcst as cst
import pytest

from dlsan.lint.engine import RuleSelection, lint_bytes, lint_source
from dlsan.lint.registry import all_rules
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.walk import Dispatcher, walk

from rule_doubles import DOCS

RULES = all_rules()
ALL = RuleSelection(RULES, {})
LOAD = "import torch\nx = torch.load(f)\n"


def codes(findings):
    return [f.code for f in findings]


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"def f(:\n    pass\n", "SyntaxError"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not valid UTF-8"),
        (b"x = '\xff'\n", "not valid UTF-8"),
        (b"print 'hello'\n", "SyntaxError"),
        (b"import torch\nx = torch.load(f\n", "SyntaxError"),
    ],
)
def test_bad_input_gives_dls000(data, fragment):
    findings = lint_bytes("bad.py", data, ALL)
    assert codes(findings) == ["DLS000"]
    assert fragment in findings[0].message


@pytest.mark.parametrize("path", ["pkg/__init__.py", "a.py", "stub.pyi"])
@pytest.mark.parametrize("data", [b"", b"\n", b"   \n\n", b"\xef\xbb\xbf"])
def test_empty_files_are_valid_python_not_findings(path, data):
    assert lint_bytes(path, data, ALL) == []


def test_bom_and_crlf_are_read():
    data = b"\xef\xbb\xbfimport torch\r\nx = torch.load(f)\r\n"
    findings = lint_bytes("crlf.py", data, ALL)
    assert codes(findings) == ["DLS602"] and findings[0].line == 2


def test_syntax_error_position():
    (finding,) = lint_source("e.py", "import torch\nx = = 1\n", ALL)
    assert (finding.code, finding.line) == ("DLS000", 2)


def test_positions_are_one_based_and_end_exclusive():
    (finding,) = lint_source("p.py", LOAD, ALL)
    assert (finding.line, finding.column, finding.end_line, finding.end_column) == (2, 5, 2, 18)


def test_prefilter_skips_files_without_torch_but_still_checks_syntax():
    assert lint_source("a.py", "x = load(f)\n", ALL) == []
    assert codes(lint_source("a.py", "x = (\n", ALL)) == ["DLS000"]


@pytest.mark.parametrize(
    "comment, suppressed",
    [
        ("# dlsan: ignore[DLS602]", True),
        ("# dlsan: ignore[torch-load-without-weights-only]", True),
        ("# dlsan: ignore[DLS501, DLS602]", True),
        ("# dlsan: ignore", True),
        ("# noqa: DLS602", True),
        ("# noqa: E501, DLS602", True),
        ("# noqa", True),
        ("# noqa: DLS501", False),
        ("# dlsan: ignore[DLS501]", False),
        ("# a comment", False),
    ],
)
def test_suppressions(comment, suppressed):
    findings = lint_source("s.py", f"import torch\nx = torch.load(f)  {comment}\n", ALL)
    # DLS001 reports the unused part of a suppression (DLS501 here); tests/lint/test_adoption.py
    assert ([f for f in findings if f.code != "DLS001"] == []) is suppressed


def test_suppression_applies_to_its_line_only():
    source = "import torch\n# dlsan: ignore[DLS602]\nx = torch.load(f)\n"
    assert codes(lint_source("s.py", source, ALL)) == ["DLS001", "DLS602"]  # the comment line's is unused


class _Crashes(Rule):
    __doc__ = DOCS

    code = "DLS999"
    name = "crashes"
    message = "boom"
    VALID = [Valid("x")]
    INVALID = [Invalid("x")]

    def visit_Call(self, node: cst.Call) -> None:
        raise RuntimeError("rule bug")


def test_a_crashing_rule_is_reported_and_the_others_still_run():
    findings = lint_source("c.py", LOAD, RuleSelection([*RULES, _Crashes], {}))
    assert sorted(codes(findings)) == ["DLS000", "DLS602"]
    assert any("Internal error in DLS999" in f.message for f in findings)


def test_walk_visits_the_same_nodes_as_libcst():
    """The fast walker must reach every non-syntax node libcst's own visitor reaches."""
    source = open(cst.__file__.replace("__init__.py", "_nodes/expression.py"), encoding="utf-8").read()
    module = cst.parse_module(source)

    class Count(cst.CSTVisitor):
        def __init__(self) -> None:
            self.seen: dict[str, int] = {}

        def on_visit(self, node: cst.CSTNode) -> bool:
            self.seen[type(node).__name__] = self.seen.get(type(node).__name__, 0) + 1
            return True

    reference = Count()
    module.visit(reference)
    kinds = ["Call", "Name", "Attribute", "For", "While", "With", "FunctionDef", "ClassDef", "AugAssign",
             "Assign", "BinaryOperation", "Subscript", "Return", "If", "Lambda", "ListComp", "Arg", "Param"]
    seen: dict[str, int] = {}

    class Probe:
        pass

    for kind in kinds:
        setattr(Probe, f"visit_{kind}", lambda self, node: seen.__setitem__(type(node).__name__, seen.get(type(node).__name__, 0) + 1))
    walk(module, Dispatcher([Probe()]), [])
    assert {k: seen.get(k, 0) for k in kinds} == {k: reference.seen.get(k, 0) for k in kinds}


@pytest.mark.parametrize("source", ["import torch\nx = " + "[" * 90 + "]" * 90 + "\n", "(" * 500 + ")" * 500])
def test_deep_nesting_does_not_crash(source):
    assert all(f.code == "DLS000" for f in lint_source("deep.py", source, ALL))
