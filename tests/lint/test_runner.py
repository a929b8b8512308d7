"""Linting many files: worker processes answer in the order the files were given."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlsan.lint.api import prepare
from dlsan.lint.finding import LintFinding
from dlsan.lint.runner import PARALLEL_THRESHOLD, lint_files

LOADED = "import torch\nstate = torch.load('ckpt.pt', weights_only=False)\n"


def test_workers_answer_in_the_order_asked_whatever_the_file_sizes(tmp_path: Path) -> None:
    # the larger files are handed to the workers first: the order given is not the order linted
    paths = []
    for i in range(PARALLEL_THRESHOLD * 2):
        path = tmp_path / f"m{i:02d}.py"
        path.write_text("# padding\n" * (i * 7 % 11) + LOADED * (1 + i % 3))
        paths.append(str(path))
    plan = prepare([tmp_path], select=["DLS602"]).plan
    serial = lint_files(plan, paths, jobs=1)
    parallel = lint_files(plan, paths, jobs=2)
    assert [result.path for result in parallel] == paths
    assert [result.findings for result in parallel] == [result.findings for result in serial]
    assert [len(result.findings) for result in parallel] == [1 + i % 3 for i in range(len(paths))]


def test_the_collector_runs_rarely_during_a_lint_and_as_before_after_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import dlsan.lint.engine as engine
    from dlsan.lint.incremental import IncrementalParser
    from dlsan.lint.runner import Linter

    seen: list[tuple[int, int, int]] = []
    real = engine.lint_bytes

    def spying(path: str, data: bytes, selection: engine.RuleSelection,
               reuse: IncrementalParser | None = None) -> list[LintFinding]:
        seen.append(gc.get_threshold())
        return real(path, data, selection, reuse)

    monkeypatch.setattr(engine, "lint_bytes", spying)
    before = gc.get_threshold()
    path = tmp_path / "m.py"
    path.write_text(LOADED)
    result = Linter(prepare([tmp_path], select=["DLS602"]).plan).lint(str(path))
    assert [f.code for f in result.findings] == ["DLS602"]
    assert seen and seen[0][0] > before[0]
    assert gc.get_threshold() == before
