"""An edit that changes comments only is answered from the last lint, the suppression comments
applied again; whatever the edit, the answer is a fresh lint's."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlsan.lint.reuse import comment_edits
from dlsan.lint.suppressions import comments
from dlsan.server.session import Session

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

LEAK = (
    "import torch\n\n"
    "total = 0  # running sum\n"
    "for x in loader:\n"
    "    loss = model(x).sum()\n"
    "    loss.backward()\n"
    "    total += loss\n"
    "print('# not a comment')\n"
)


def _edited(text: str, line: int, new: str) -> str:
    lines = text.split("\n")
    lines[line - 1] = new
    return "\n".join(lines)


def test_comment_edits_are_the_lines_whose_comments_alone_changed() -> None:
    def edits(old: str, new: str) -> set[int] | None:
        return comment_edits(old, comments(old), new, comments(new))

    assert edits(LEAK, _edited(LEAK, 3, "total = 0  # the running sum")) == {3}
    assert edits(LEAK, _edited(LEAK, 3, "total = 0")) == {3}
    assert edits(LEAK, _edited(LEAK, 2, "# a new comment line")) == {2}
    assert edits(LEAK, _edited(LEAK, 3, "total = 1  # running sum")) is None
    assert edits(LEAK, _edited(LEAK, 8, "print('# not a comment either')")) is None  # a string
    assert edits(LEAK, LEAK.replace("\n", "\r\n")) is None  # line endings are not comments
    assert edits(LEAK, LEAK + "# one more line\n") is None  # every later line would move


def test_a_comment_edit_away_from_findings_is_answered_without_linting(tmp_path: Path, lints: list[str]) -> None:
    path = str(tmp_path / "train.py")
    session = Session()
    first = session.lint(path, LEAK)
    assert [(f.line, f.code) for f in first] == [(7, "DLS101")]
    edited = _edited(LEAK, 3, "total = 0  # the running sum of the epoch")
    assert session.lint(path, edited) == first
    assert lints == [LEAK]
    assert session.lint(path, edited) == Session().lint(path, edited)


def test_a_suppression_added_elsewhere_is_applied_and_audited(tmp_path: Path, lints: list[str]) -> None:
    path = str(tmp_path / "train.py")
    session = Session()
    session.lint(path, LEAK)
    unused = _edited(LEAK, 3, "total = 0  # noqa: DLS101")
    findings = session.lint(path, unused)
    assert [(f.line, f.code) for f in findings] == [(3, "DLS001"), (7, "DLS101")]
    assert lints == [LEAK]
    assert findings == Session().lint(path, unused)


def test_a_comment_edit_on_a_finding_lints_again(tmp_path: Path, lints: list[str]) -> None:
    path = str(tmp_path / "train.py")
    session = Session()
    session.lint(path, LEAK)
    suppressed = _edited(LEAK, 7, "    total += loss  # noqa: DLS101")
    assert session.lint(path, suppressed) == [] == Session().lint(path, suppressed)
    assert lints[:2] == [LEAK, suppressed]


def test_a_cell_marker_added_lints_again(tmp_path: Path, lints: list[str]) -> None:
    """``# %%`` makes a percent-format notebook: a value a cell displays is its output, no finding."""
    path = str(tmp_path / "analysis.py")
    text = "# %%\nimport torch\n\nx = torch.randn(3)\nx.float()\n# a note\ny = 1\n"
    session = Session()
    assert [f.code for f in session.lint(path, text)] == ["DLS604"]
    cells = _edited(text, 6, "# %%")  # a comment, yet x.float() is now what the first cell shows
    assert session.lint(path, cells) == [] == Session().lint(path, cells)
    assert lints[:2] == [text, cells]


def test_a_code_edit_lints_again(tmp_path: Path, lints: list[str]) -> None:
    path = str(tmp_path / "train.py")
    session = Session()
    session.lint(path, LEAK)
    fixed = _edited(LEAK, 7, "    total += loss.item()")
    assert session.lint(path, fixed) == [] == Session().lint(path, fixed)
    assert lints[:2] == [LEAK, fixed]


@pytest.mark.parametrize("name", ["eval_mode_bugs.py", "adopted_legacy_trainer_dls001.py"])
def test_comments_added_line_after_line_find_what_a_fresh_lint_finds(tmp_path: Path, name: str) -> None:
    path = str(tmp_path / name)
    text = (FIXTURES / name).read_text(encoding="utf-8")
    session = Session()
    session.lint(path, text)
    fresh, _ = Session()._linters_for(Path(path))  # its lint_content keeps nothing from one text to the next
    lines = text.split("\n")
    for number in range(0, len(lines), 5):
        for comment in ("  # checked", "  # noqa", "  # noqa: DLS101"):
            edited = "\n".join([*lines[:number], lines[number] + comment, *lines[number + 1:]])
            expected = fresh.lint_content(path, edited.encode("utf-8")).findings
            assert session.lint(path, edited) == expected, (number, comment)
