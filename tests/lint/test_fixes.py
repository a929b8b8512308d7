"""The fix loop: overlapping edits wait for the next round, and a fix that would break the file
is never applied."""

from __future__ import annotations

from rule_doubles import BreaksTheFile

from dlsan.lint.engine import RuleSelection
from dlsan.lint.finding import Edit, Fix
from dlsan.lint.fixes import apply_edits, fix_source


def test_a_fix_that_would_break_the_file_is_not_applied():
    source = "import torch\nstate = torch.load(f)\n"
    result = fix_source("b.py", source, RuleSelection([BreaksTheFile], {}), unsafe=True)
    assert result.source == source and result.applied == 0
    assert result.problem is not None and "unparsable" in result.problem
    assert [f.code for f in result.findings] == ["DLS998"]


def test_overlapping_edits_wait_for_the_next_round():
    source = "abcdef"
    outer = Fix("outer", "safe", (Edit(1, 1, 1, 5, "XXXX"),))
    inner = Fix("inner", "safe", (Edit(1, 2, 1, 3, "Y"),))
    after = Fix("after", "safe", (Edit(1, 6, 1, 7, "Z"),))
    assert apply_edits(source, [outer, inner, after]) == ("XXXXeZ", 2)
