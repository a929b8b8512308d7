"""A notebook cell's last expression is its output, not a discarded value: one engine-level filter
for every rule with ``output_is_a_use`` (DLS604), in ``.ipynb`` notebooks and percent-format files.

Written after rasbt/LLMs-from-scratch appendix-A/01_main-chapter-code/code-part1.ipynb, whose
cells end in ``tensor2d.reshape(3, 2)`` to show the result."""

from __future__ import annotations

import json
from pathlib import Path

from dlsan.lint.api import lint_paths, lint_source
from dlsan.lint.cell_output import percent_cells

PERCENT = """\
import torch
# %%
tensor2d = torch.tensor([[1, 2, 3], [4, 5, 6]])
tensor2d.reshape(
    3, 2)
# %% [markdown]
# A statement ending in `;` shows nothing, and a value thrown away mid-cell is a bug:
# %%
tensor2d.view(6);
# %%
tensor2d.to("cpu")
print(tensor2d)
"""


def test_percent_cells_are_the_lines_between_markers() -> None:
    assert percent_cells(PERCENT) == [(3, 3), (7, 1), (9, 1), (11, 2)]
    assert percent_cells("import torch\nx = 1\n") == []


def test_only_the_displayed_expression_of_a_percent_cell_is_kept_quiet() -> None:
    assert [f.line for f in lint_source(PERCENT, "nb.py", select=["DLS604"])] == [9, 11]


def test_displayed_expression_of_an_ipynb_cell_is_no_finding(tmp_path: Path) -> None:
    cells = ["import torch\ntensor2d = torch.tensor([[1, 2, 3], [4, 5, 6]])\ntensor2d.reshape(3, 2)",
             "tensor2d.view(6)\nprint(tensor2d)"]
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"language_info": {"name": "python"}},
                "cells": [{"cell_type": "code", "id": str(n), "metadata": {}, "execution_count": None,
                           "outputs": [], "source": text} for n, text in enumerate(cells)]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    found = [f for result in lint_paths([path], select=["DLS604"]).files for f in result.findings]
    assert [(f.cell, f.line) for f in found] == [(2, 1)]
