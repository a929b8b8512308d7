"""Test-double rules: the documentation every rule needs, filled in once, and the doubles more
than one test file uses."""

from __future__ import annotations

import libcst as cst

from dlsan.lint.rule import FixSpec, Invalid, Replace, Rule, Valid

DOCS = """
    ## What it does
    Nothing useful: it is a test double.

    ## Why is this bad?
    It is a test double.

    ## Example
    x

    ## Use instead
    y

    ## Fix safety
    Test only.
"""


class BreaksTheFile(Rule):
    # its "fix" opens a bracket it never closes: the fixed text no longer parses
    __doc__ = DOCS

    code = "DLS998"
    name = "breaks-the-file"
    message = "m"
    fix_applicability = "safe"
    VALID = [Valid("x")]
    INVALID = [Invalid("x")]

    def visit_Call(self, node: cst.Call) -> None:
        self.report(node, fix=FixSpec("break", [Replace(node, "torch.load(")]))


#: a project rule's source, as a ``rule-dirs`` file holds it (``{code}`` to fill in)
PROJECT_RULE = '''
from dlsan.lint.rule import Invalid, Rule, Valid


class NoPrint(Rule):
    """
    ## What it does
    Flags print calls.

    ## Why is this bad?
    Training scripts should log.

    ## Example
    print(loss)

    ## Use instead
    logger.info(loss)
    """

    code = "{code}"
    name = "no-print"
    message = "print() in training code; log instead"
    requires = ("print",)
    VALID = [Valid("log(x)")]
    INVALID = [Invalid("print(x)", line=1)]

    def visit_Call(self, node):
        if getattr(node.func, "value", None) == "print":
            self.report(node)
'''
