"""The server's session answers a document linted again with unchanged text from its last lint,
and lints again when the text, the configuration or a project file the findings depend on changed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import dlsan.server.session as session_module
from dlsan.server.session import Session

LEAK = "import torch\n\ntotal = 0\nfor x in loader:\n    loss = model(x).sum()\n    loss.backward()\n    total += loss\n"


def test_unchanged_text_is_answered_from_the_last_lint(tmp_path: Path, lints: list[str]) -> None:
    path = str(tmp_path / "train.py")
    session = Session()
    first = session.lint(path, LEAK)
    assert [f.code for f in first] == ["DLS101"]  # the loss accumulated with its graph
    assert session.lint(path, LEAK) == first
    assert lints == [LEAK]
    session.lint(path, LEAK + "\n")
    assert lints == [LEAK, LEAK + "\n"]


def test_forgetting_the_config_or_the_document_lints_again(tmp_path: Path, lints: list[str]) -> None:
    path = str(tmp_path / "train.py")
    session = Session()
    session.lint(path, LEAK)
    session.forget_config()
    session.lint(path, LEAK)
    session.forget_document(path)
    session.lint(path, LEAK)
    assert lints == [LEAK] * 3


def test_a_changed_project_file_the_findings_depend_on_lints_again(
        tmp_path: Path, lints: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    dependency = tmp_path / "model.py"
    dependency.write_text("class Net: pass\n")
    recorded = {str(dependency): hashlib.sha256(dependency.read_bytes()).hexdigest()}
    monkeypatch.setattr(session_module, "dependencies_of", lambda path: dict(recorded))
    path = str(tmp_path / "train.py")
    session = Session()
    session.lint(path, LEAK)
    session.lint(path, LEAK)
    assert len(lints) == 1
    dependency.write_text("class Net:\n    pass\n")
    session.lint(path, LEAK)
    assert len(lints) == 2
