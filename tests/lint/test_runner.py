"""Linting many files: worker processes answer in the order the files were given."""

from __future__ import annotations

from pathlib import Path

from dlsan.lint.api import prepare
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
