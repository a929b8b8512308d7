"""The server's helper process lints half of the rules; the findings are one process's findings,
whatever the edit, the suppression comments, or the helper's health."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlsan.lint.engine import RuleSelection
from dlsan.server.edits import edit_sequence
from dlsan.server.helper import RuleHelper
from dlsan.server.session import Session, halves

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

#: DLS504 (a training-loop rule) on an optimizer step, suppressed by a code comment and by a blanket
#: one; a DLS001 for a comment that suppresses nothing
SUPPRESSED = (
    "import torch\n\n"
    "for batch in loader:\n"
    "    model(batch).sum().backward()\n"
    "    optimizer.step()  # noqa: DLS504\n"
    "for batch in loader:\n"
    "    model(batch).sum().backward()\n"
    "    optimizer.step()  # noqa\n"
    "x = 1  # noqa: DLS504\n"
)


@pytest.fixture
def helped() -> Iterator[Session]:
    session = Session(RuleHelper())
    yield session
    session.close()


def _codes_in_halves(session: Session, path: str) -> tuple[list[str], list[str]]:
    linter, _ = session._linters_for(Path(path))
    selection: RuleSelection = linter.selection_for(Path(path))
    return halves(selection)


def test_halves_split_every_rule_once(tmp_path: Path) -> None:
    path = str(tmp_path / "train.py")
    here, there = _codes_in_halves(Session(), path)
    assert here and there and not set(here) & set(there)
    linter, _ = Session()._linters_for(Path(path))
    assert sorted(here + there) == sorted(rule.code for rule in linter.selection_for(Path(path)).rules)


def test_the_rules_that_follow_training_loops_lint_in_one_half(tmp_path: Path) -> None:
    here, there = _codes_in_halves(Session(), str(tmp_path / "train.py"))
    # they share the costliest facts (loop events, optimizer steps, modes): each process would
    # compute them for its own rules
    assert {"DLS101", "DLS301", "DLS302", "DLS402", "DLS504", "DLS505", "DLS506", "DLS511"} <= set(there)
    assert {"DLS001", "DLS201", "DLS202", "DLS401", "DLS403", "DLS502", "DLS503", "DLS601"} <= set(here)


def test_a_selection_that_loop_rules_would_leave_lopsided_is_split_every_other(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dlsan]\nselect = ["DLS502", "DLS504", "DLS505", "DLS506", "DLS509"]\n')
    assert _codes_in_halves(Session(), str(tmp_path / "train.py")) == (
        ["DLS502", "DLS505", "DLS509"], ["DLS504", "DLS506"])


@pytest.mark.parametrize("name", ["tabular_leakage_notebook.py", "image_classifier_amp_dls3_4_5_6.py"])
def test_every_version_of_an_editing_session_finds_what_one_process_finds(tmp_path: Path, helped: Session,
                                                                           name: str) -> None:
    path = str(tmp_path / name)
    alone = Session()
    versions = [text for _, text in edit_sequence((FIXTURES / name).read_text(encoding="utf-8"))]
    assert len(versions) > 3
    for text in versions:
        assert helped.lint(path, text) == alone.lint(path, text)
    assert helped.helper is not None and not helped.helper.failed


def test_suppressions_apply_to_the_findings_of_both_halves(tmp_path: Path, helped: Session) -> None:
    path = str(tmp_path / "opt.py")
    here, there = _codes_in_halves(helped, path)
    # the suppressed rule and DLS001 lint in different processes: DLS001 must see DLS504's findings
    assert ("DLS504" in here) != ("DLS001" in here)
    findings = helped.lint(path, SUPPRESSED)
    assert [(f.line, f.code) for f in findings] == [(9, "DLS001")]
    assert findings == Session().lint(path, SUPPRESSED)


def test_a_parse_error_is_the_only_finding(tmp_path: Path, helped: Session) -> None:
    path = str(tmp_path / "broken.py")
    broken = "import torch\ndef f(:\n"
    assert helped.lint(path, broken) == Session().lint(path, broken)
    assert [f.code for f in helped.lint(path, broken)] == ["DLS000"]


def test_a_helper_that_cannot_start_leaves_the_lint_to_the_server(tmp_path: Path) -> None:
    path = str(tmp_path / "opt.py")
    session = Session(RuleHelper(["/nonexistent/python"]))
    assert session.lint(path, SUPPRESSED) == Session().lint(path, SUPPRESSED)
    assert session.helper is not None and session.helper.failed


def test_a_helper_that_dies_leaves_the_lint_to_the_server(tmp_path: Path) -> None:
    path = str(tmp_path / "opt.py")
    session = Session(RuleHelper([sys.executable, "-c", "import sys; sys.stdin.buffer.read(8)"]))
    assert session.lint(path, SUPPRESSED) == Session().lint(path, SUPPRESSED)
    assert session.helper is not None and session.helper.failed
    assert session.lint(path, SUPPRESSED + "\n") == Session().lint(path, SUPPRESSED + "\n")
    session.close()


def test_a_closed_document_is_forgotten_by_the_helper_too(tmp_path: Path, helped: Session) -> None:
    path = str(tmp_path / "opt.py")
    first = helped.lint(path, SUPPRESSED)
    helped.forget_document(path)
    assert helped.lint(path, SUPPRESSED) == first
    assert helped.helper is not None and not helped.helper.failed


def test_halves_that_ran_one_after_the_other_make_the_server_lint_alone_for_a_while(tmp_path: Path,
                                                                                     helped: Session) -> None:
    helper = helped.helper
    assert helper is not None and helper.worthwhile()
    helper.observe(wall=0.6, processor=1.0)  # in parallel: the slower half and a little more
    assert helper.worthwhile()
    helper.observe(wall=1.0, processor=1.0)  # one after the other: no core was free
    assert not helper.worthwhile()
    path = str(tmp_path / "opt.py")
    sent: list[str] = []
    real = RuleHelper.submit

    def counted(self: RuleHelper, *args: object) -> bool:
        sent.append("lint")
        return real(self, *args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RuleHelper, "submit", counted)
        assert helped.lint(path, SUPPRESSED) == Session().lint(path, SUPPRESSED)
    assert sent == []
