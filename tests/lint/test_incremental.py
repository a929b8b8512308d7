"""The language server's incremental path gives exactly what a fresh lint of the whole text gives.

Two levels, on the same edit sequences over the fixtures and the real-code cases of the test suite:

* the parse: the module assembled from reused chunks is libcst's parse of the whole text, node for
  node (``deep_equals``), its code is the text, and every node is where libcst puts it;
* the findings: a :class:`Session` that saw every earlier version (so it reuses chunks) reports
  the same findings (codes, messages, positions, fixes) as a fresh lint with no reuse.

``benchmarks/incremental_differential.py`` runs the same comparison over the shared corpus.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlsan.lint.api import prepare
from dlsan.lint.incremental import IncrementalParser
from dlsan.lint.runner import Linter
from dlsan.server.edits import code_edit, edit_sequence, parse_verdict
from dlsan.server.session import Session

REPO = Path(__file__).resolve().parents[2]
FIXTURES = sorted([*(REPO / "fixtures").glob("*.py"),
                   *(REPO / "fixtures" / "models").glob("*.py")])


def _real_code_cases() -> str:
    """The public-code cases of ``test_real_code.py`` (each cites its source), one after another
    in one document."""
    spec = importlib.util.spec_from_file_location("_real_code_cases", REPO / "tests" / "lint" / "test_real_code.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return "\n\n".join(textwrap.dedent(source).strip("\n") + "\n" for _, source in [*module.FOUND, *module.QUIET])


def assert_parse_matches(parser: IncrementalParser, text: str) -> None:
    assert parse_verdict(parser, text) in ("reused", "fallback", "both fail")


@pytest.fixture
def select_all(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\nselect = ["ALL"]\n', encoding="utf-8")
    return tmp_path


def assert_findings_match(session: Session, path: Path, text: str) -> None:
    fresh = Linter(prepare([path]).plan).lint_content(str(path), text.encode("utf-8")).findings
    assert session.lint(str(path), text) == fresh


def _documents() -> list[tuple[str, str]]:
    return [(path.name, path.read_text(encoding="utf-8")) for path in FIXTURES] + [("real_code.py", _real_code_cases())]


@pytest.mark.slow  # every file, every edit: on the default Python only
@pytest.mark.parametrize(("name", "text"), _documents(), ids=[name for name, _ in _documents()])
def test_every_edit_parses_as_the_whole_text_would(name: str, text: str) -> None:
    parser = IncrementalParser()
    reused = 0
    for _, version in edit_sequence(text):
        assert_parse_matches(parser, version)
    for version in (text, text.replace("\n", "\r\n")):
        reused += parse_verdict(parser, version) == "reused"
    assert reused == 2  # clean fixtures never need the fallback


@pytest.mark.slow
@pytest.mark.parametrize(("name", "text"), _documents(), ids=[name for name, _ in _documents()])
def test_the_server_path_finds_what_a_fresh_lint_finds(name: str, text: str, select_all: Path) -> None:
    path = select_all / name
    session = Session()
    for _, version in edit_sequence(text):
        assert_findings_match(session, path, version)


def test_edits_that_move_lines_between_statements(select_all: Path) -> None:
    """The edits where chunk boundaries matter: an indented comment typed after a function body
    (libcst gives it to the function's block), a first block indented by two spaces (every other
    chunk's blocks are read again), decorators, a statement duplicated (two chunks, one text)."""
    base = (REPO / "fixtures" / "train_running_loss_leak.py").read_text(encoding="utf-8")
    lines = base.splitlines(keepends=True)
    body_end = next(i for i in range(1, len(lines)) if lines[i - 1].startswith("    ") and not lines[i].startswith(" "))
    versions = [
        "".join(lines[:body_end] + ["    # typed after the body\n"] + lines[body_end:]),
        "".join(lines[:body_end] + ["        # deeper\n", "\n", "    # less deep\n", "# top\n"] + lines[body_end:]),
        "if True:\n  two = 2\n" + base,
        base.replace("\ndef ", "\n@torch.no_grad()\ndef ", 1),
        base + "\n" + base,
        base.rstrip("\n"),
        base.rstrip("\n") + "\n\n    \n  ",
        base,
    ]
    parser, session = IncrementalParser(), Session()
    for version in versions:
        assert_parse_matches(parser, version)
        assert_findings_match(session, select_all / "train.py", version)


_LINES = (REPO / "fixtures" / "eval_mode_bugs.py").read_text(encoding="utf-8").splitlines(keepends=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(["delete", "duplicate", "move", "indent", "dedent"]),
                          st.integers(0, len(_LINES) - 1), st.integers(0, len(_LINES) - 1)), min_size=1, max_size=6))
def test_random_line_edits(edits: list[tuple[str, int, int]], select_all: Path) -> None:
    """Any sequence of line edits (most leave code that does not parse, or parses differently):
    every version gives what a fresh lint gives."""
    lines = list(_LINES)
    parser, session = IncrementalParser(), Session()
    for operation, i, j in edits:
        i, j = i % len(lines), j % len(lines)
        if operation == "delete" and len(lines) > 1:
            del lines[i]
        elif operation == "duplicate":
            lines.insert(j, lines[i])
        elif operation == "move":
            lines.insert(j, lines.pop(i))
        elif operation == "indent":
            lines[i] = "    " + lines[i]
        elif operation == "dedent":
            lines[i] = lines[i][4:] if lines[i].startswith("    ") else lines[i]
        text = "".join(lines)
        assert_parse_matches(parser, text)
        assert_findings_match(session, select_all / "eval.py", text)


def test_statements_the_edit_did_not_touch_are_not_parsed_again() -> None:
    text = (REPO / "fixtures" / "train_running_loss_leak.py").read_text(encoding="utf-8")
    parser = IncrementalParser()
    before = parser.parse(text)
    edited = code_edit(text, 0)
    after = parser.parse(edited)
    assert before is not None and after is not None
    changed = [i for i, (old, new) in enumerate(zip(before.module.body, after.module.body)) if old is not new]
    assert len(before.module.body) == len(after.module.body) > 3
    # the edited statement is new; the others are the very same nodes, or, after blank lines, a copy
    # holding the very same children
    fresh = [i for i in changed if before.module.body[i].children[-1] is not after.module.body[i].children[-1]]
    assert len(fresh) == 1
    assert parse_verdict(IncrementalParser(), edited) == "reused"
