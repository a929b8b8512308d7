"""Notebooks: cells joined into one module, findings by cell, IPython syntax, fixes written back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rule_doubles import BreaksTheFile

from dlsan.lint.engine import RuleSelection
from dlsan.lint.notebook_lint import notebook_result
from dlsan.lint.notebooks import JsonStyle, NotebookError, neutralise, parse_notebook, without_leading_indent
from dlsan.lint.registry import all_rules


@pytest.fixture(autouse=True)
def _torch_before_2_6(monkeypatch):
    """These tests use a bare ``torch.load`` as their DLS602 example, a finding before PyTorch 2.6."""
    monkeypatch.setenv("DLSAN_TARGET_TORCH_VERSION", "2.5")

REPO = Path(__file__).resolve().parents[2]
LEAKY = REPO / "fixtures" / "notebooks" / "leaky.ipynb"
ALL = RuleSelection(all_rules(), {"DLS602": {"target-torch-version": "2.5"}})


def _notebook(*sources: str, cell_type: str = "code", **top: object) -> dict:
    cells = [{"cell_type": cell_type, "execution_count": None, "metadata": {}, "outputs": [],
              "source": source} for source in sources]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5, **top}


def _lint(data: dict | str, *, fix: bool = False, unsafe: bool = False):
    text = data if isinstance(data, str) else json.dumps(data, indent=1)
    return notebook_result("nb.ipynb", text.encode(), ALL, fix=fix, unsafe=unsafe)


def _where(result) -> list[tuple[str, int | None, int, int]]:
    return [(f.code, f.cell, f.line, f.column) for f in result.findings]


def test_leaky_notebook_findings_at_their_cell_and_line():
    result = notebook_result(str(LEAKY), LEAKY.read_bytes(), ALL, fix=False, unsafe=False)
    # cell 4 fits the scaler on all rows, cell 7 (a markdown cell and a help cell between) splits
    assert _where(result) == [("DLS401", 4, 2, 12), ("DLS101", 9, 8, 5), ("DLS602", 10, 1, 9)]


def test_cells_are_one_data_flow():
    split_in_other_cell = _notebook(
        "from sklearn.preprocessing import StandardScaler\nfrom sklearn.model_selection import train_test_split\n",
        "X = StandardScaler().fit_transform(X_raw)",
        "X_train, X_test = train_test_split(X)",
    )
    assert _where(_lint(split_in_other_cell)) == [("DLS401", 2, 1, 5)]


def test_a_cells_displayed_value_is_not_a_discarded_result():
    """A cell ending in ``tensor2d.reshape(3, 2)`` shows the reshaped tensor (as in
    rasbt/LLMs-from-scratch, appendix-A/01_main-chapter-code/code-part1.ipynb); the same call
    earlier in the cell, inside a block, or with the output hidden by ``;`` does nothing."""
    shown = _notebook("import torch\nt = torch.tensor([[1, 2, 3], [4, 5, 6]])", "t.reshape(3, 2)",
                      "t.view(\n    3, 2)  # shown\n# a comment after it\n")
    assert _where(_lint(shown)) == []
    discarded = _notebook("import torch\nt = torch.tensor([[1, 2, 3], [4, 5, 6]])",
                          "t.reshape(3, 2)\nprint(t)", "t.view(3, 2);", "if True:\n    t.view(3, 2)")
    assert _where(_lint(discarded)) == [("DLS604", 2, 1, 1), ("DLS604", 3, 1, 1), ("DLS604", 4, 2, 5)]


def test_ipython_lines_become_pass_and_nothing_else_moves():
    text, replaced = neutralise("%matplotlib inline\nfor x in xs:\n    !echo $x\nfiles = !ls\nhelp?\ny = 1")
    assert text.split("\n") == ["pass", "for x in xs:", "    pass", "pass", "pass", "y = 1"]
    assert replaced == {1, 3, 4, 5}


def test_a_backslash_continues_a_line_of_ipython_syntax():
    # ageron/handson-ml3, 19_training_and_deploying_at_scale.ipynb: a shell escape over two lines,
    # which IPython joins; the second line, left as it was, was a DLS000 ("unexpected indent")
    text, replaced = neutralise("!saved_model_cli show --dir d \\\n    --tag_set serve \\\n    --all\nx = 1")
    assert text.split("\n") == ["pass", "", "", "x = 1"] and replaced == {1, 2, 3}
    assumed, replaced = neutralise("files = !ls -la \\\n   /tmp\nprint(files)")
    assert assumed.split("\n") == ["pass", "", "print(files)"] and replaced == {1, 2}
    result = _lint(_notebook("import torch\n!pip install -q \\\n    timm\nstate = torch.load(path)"))
    assert _where(result) == [("DLS602", 1, 4, 9)]


def test_an_indented_cell_runs_dedented_as_in_ipython():
    # rasbt/machine-learning-book ch02.ipynb cell 18 is " Image(filename=..., width=600) ", and
    # ch13_part1.ipynb cell 14 a whole def indented by one space: IPython removes the first line's
    # indentation from every line (leading_indent), so they run; each was a DLS000
    indented = _notebook("import torch\n", " state = torch.load(path)\n  # more\n x = 1\n")
    result = _lint(indented)
    assert [(f.code, f.cell, f.line, f.column, f.end_column) for f in result.findings] == [("DLS602", 2, 1, 10, 26)]
    text, width, shifted = without_leading_indent(" a = 1\n\n  b = 2\nc = 3")
    assert (text, width, shifted) == ("a = 1\n\n b = 2\nc = 3", 1, {1, 3})
    assert without_leading_indent("\n\tx = 1\n\ty = 2") == ("\nx = 1\ny = 2", 1, {2, 3})


def test_a_fix_in_an_indented_cell_keeps_its_columns():
    cells = _notebook("import torch\nfrom torch import nn\nmodel = nn.Linear(2, 2)\n", "  y = model.forward(x)\n")
    fixed = json.loads(_lint(cells, fix=True, unsafe=True).fixed)
    assert fixed["cells"][1]["source"] == "  y = model(x)\n"


def test_brackets_do_not_continue_a_line_of_ipython_syntax():
    # IPython 7 on reads "%timeit f(a," alone (PythonDataScienceHandbook's 03.12 cell 6, written
    # for an older IPython, fails today): the next line stays Python, and here does not parse
    text, replaced = neutralise("%timeit f(a,\n    b)")
    assert text.split("\n") == ["pass", "    b)"] and replaced == {1}


def test_a_line_that_starts_with_a_string_is_python():
    # ShusenTang/Dive-into-DL-PyTorch 9.9 cell 5: without its string, the line
    # "txt_fname = '%s/%s' % (" looked like "x = %magic" and became pass, and the cell a DLS000
    source = "txt_fname = '%s/ImageSets/%s' % (\n    root, 'train.txt')\n'%d items' % n\n\"!\" + s\n"
    assert neutralise(source) == (source, frozenset())
    assert _where(_lint(_notebook(source))) == []


def test_python_that_looks_like_ipython_is_kept():
    source = 'ratio = (a\n         % b)\nok = (x\n      != y)\ns = """\n%d items?\n"""\nz = 1  # why?\n'
    assert neutralise(source) == (source, frozenset())


def test_cell_magics():
    bash, replaced = neutralise("%%bash\nfor f in *; do echo $f; done\n")
    assert bash.strip() == "" and replaced == {1, 2, 3}
    timed, replaced = neutralise("%%time\nx = torch.load(p)\n")
    assert timed == "pass\nx = torch.load(p)\n" and replaced == {1}


def test_columns_survive_magic_lines():
    result = _lint(_notebook("%load_ext autoreload\nimport torch\n!nvidia-smi\nstate = torch.load(path)"))
    assert _where(result) == [("DLS602", 1, 4, 9)]


def test_suppression_on_a_cell_line():
    result = _lint(_notebook("import torch\n", "a = torch.load(p)  # noqa: DLS602\nb = torch.load(q)"))
    assert _where(result) == [("DLS602", 2, 2, 5)]


def test_syntax_error_is_dls000_in_its_cell():
    result = _lint(_notebook("import torch\n", "def f(:\n    pass"))
    assert _where(result) == [("DLS000", 2, 1, 7)]


def test_a_cell_that_does_not_parse_leaves_the_others_checked():
    # an exercise notebook: the student has not filled in cell 2 yet (udacity/deep-learning-v2-pytorch
    # intro-to-pytorch/Part 3 - Training Neural Networks (Exercises).ipynb has `model = ` like this)
    exercise = _notebook("import torch\n", "model = # TODO: build the network\n", "state = torch.load(path)")
    assert _where(_lint(exercise)) == [("DLS000", 2, 1, 9), ("DLS602", 3, 1, 9)]
    fixed = _lint(exercise, fix=True, unsafe=True)
    assert fixed.fixed is not None and _where(fixed) == [("DLS000", 2, 1, 9)]
    cells = json.loads(fixed.fixed)["cells"]
    assert (cells[1]["source"], cells[2]["source"]) == ("model = # TODO: build the network\n",
                                                       "state = torch.load(path, weights_only=True)")


def test_markdown_only_and_other_languages_are_quiet():
    assert _lint(_notebook("# torch.load(p)", cell_type="markdown")).findings == []
    r_notebook = _notebook("import torch\nx = torch.load(p)", metadata={"kernelspec": {"language": "R"}})
    assert _lint(r_notebook).findings == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "Notebook is not valid JSON"),
        ("", "Notebook file is empty"),
        ("\n  \n", "Notebook file is empty"),
        ("[1, 2]", "the JSON document is not an object"),
        ('{"cells": []}', "no integer 'nbformat' key"),
        ('{"nbformat": 3, "worksheets": []}', "nbformat 3 notebooks are not supported"),
        ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "'cells' is missing"),
        ('{"nbformat": 4, "cells": [{"cell_type": "code", "source": 7}]}', "cell 1 has no 'source'"),
        ('{"nbformat": 4, "cells": [{"cell_type": "python", "source": ""}]}', "cell 1 has cell_type 'python'"),
    ],
)
def test_broken_notebooks_are_dls000_with_the_reason(text, message):
    (finding,) = _lint(text).findings
    assert finding.code == "DLS000" and message in finding.message, finding.message
    with pytest.raises(NotebookError):
        parse_notebook(text)


def test_fix_changes_only_the_fixed_lines(tmp_path):
    original = LEAKY.read_text(encoding="utf-8")
    result = notebook_result(str(LEAKY), original.encode(), ALL, fix=True, unsafe=True)
    assert result.applied == 2 and result.fixed is not None
    changed = [(old, new) for old, new in zip(original.splitlines(), result.fixed.splitlines()) if old != new]
    assert changed == [
        ('    "    total_loss += loss\\n",', '    "    total_loss += loss.item()\\n",'),
        ("    \"state = torch.load('ckpt.pt')\"", "    \"state = torch.load('ckpt.pt', weights_only=True)\""),
    ]
    assert len(original.splitlines()) == len(result.fixed.splitlines())
    before, after = json.loads(original), json.loads(result.fixed)
    assert [c.get("outputs") for c in after["cells"]] == [c.get("outputs") for c in before["cells"]]
    assert (after["metadata"], after["nbformat"], after["nbformat_minor"]) == (
        before["metadata"], before["nbformat"], before["nbformat_minor"])
    assert [code for code, *_ in _where(result)] == ["DLS401"]


@pytest.mark.parametrize(
    "dump",
    [
        lambda nb: json.dumps(nb, indent=2),  # no final newline, keys in insertion order
        lambda nb: json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n",  # Jupyter's
        lambda nb: json.dumps(nb),  # one line
        lambda nb: json.dumps(nb, separators=(",", ":")) + "\n",
        lambda nb: json.dumps(nb, indent="\t", ensure_ascii=True).replace("\n", "\r\n") + "\r\n",
        # one line, default separators, and a cell whose text looks like the compact ones
        lambda nb: json.dumps({**nb, "metadata": {"note": 'a",b'}}),
    ],
)
def test_fix_keeps_the_json_style(dump):
    notebook = _notebook("import torch\n# Ünïcode 模型\n", ["state = torch.load(p)\n", "print(1)"])
    notebook["metadata"] = {"zeta": 1, "alpha": {"b": 2, "a": 1}}
    text = dump(notebook)
    result = _lint(text, fix=True, unsafe=True)
    assert result.fixed is not None
    expected = json.loads(text)
    expected["cells"][1]["source"][0] = "state = torch.load(p, weights_only=True)\n"
    assert result.fixed == dump(expected)


def test_unchanged_style_detection_round_trips_jupyter_output():
    text = LEAKY.read_text(encoding="utf-8")
    assert JsonStyle.of(text, json.loads(text)).dumps(json.loads(text)) == text


def test_fix_that_would_break_the_notebook_is_not_applied():
    text = json.dumps(_notebook("import torch\n", "state = f(p)"))
    result = notebook_result("nb.ipynb", text.encode(), RuleSelection([BreaksTheFile], {}), fix=True, unsafe=True)
    assert result.fixed is None and result.applied == 0
    assert result.problem is not None and "unparsable" in result.problem
    assert _where(result) == [("DLS998", 2, 1, 9)]


def test_cli_lints_notebooks_by_default_and_skips_checkpoints(run_dlsan, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\nexclude = ["build"]\n')
    shutil.copy(LEAKY, tmp_path / "leaky.ipynb")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    shutil.copy(LEAKY, tmp_path / ".ipynb_checkpoints" / "leaky-checkpoint.ipynb")
    (tmp_path / "broken.ipynb").write_text("{")
    result = run_dlsan("check", "--output-format", "json", ".", cwd=tmp_path)
    found = [(f["path"], f.get("cell"), f["line"], f["code"]) for f in json.loads(result.stdout)]
    assert found == [("broken.ipynb", None, 1, "DLS000"), ("leaky.ipynb", 4, 2, "DLS401"),
                     ("leaky.ipynb", 9, 8, "DLS101"), ("leaky.ipynb", 10, 1, "DLS602")]
    again = run_dlsan("check", "--output-format", "json", ".", cwd=tmp_path)  # answered from the cache
    assert again.stdout == result.stdout


def test_cli_fix_writes_the_notebook_back(run_dlsan, tmp_path):
    target = tmp_path / "leaky.ipynb"
    shutil.copy(LEAKY, target)
    result = run_dlsan("check", "--fix", "leaky.ipynb", cwd=tmp_path)
    assert "Fixed 1 finding in leaky.ipynb." in result.stderr
    assert "total_loss += loss.item()" in target.read_text(encoding="utf-8")
    json.loads(target.read_text(encoding="utf-8"))


def test_linting_a_notebook_imports_no_torch():
    code = (
        "import sys\n"
        "from dlsan.lint.api import lint_paths\n"
        f"result = lint_paths([{str(LEAKY)!r}])\n"
        "assert [f.code for f in result.findings] == ['DLS401', 'DLS101', 'DLS602'], result.findings\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "False"


def test_messages_name_other_lines_by_cell_and_line():
    # found on udacity/deep-learning-v2-pytorch, gan-mnist/MNIST_GAN_Solution.ipynb: the message
    # named the dataset's line of the virtual module that joins the cells ("line 18"), a line
    # the user cannot find; it is line 13 of cell 3 there
    loader_in_its_own_cell = _notebook(
        "import torch\nfrom torchvision import datasets\n",
        "batch_size = 64\ntrain_data = datasets.MNIST(root='data', train=True, download=True)\n",
        "train_loader = torch.utils.data.DataLoader(train_data, batch_size=batch_size)\n",
    )
    found = [f for f in _lint(loader_in_its_own_cell).findings if f.code == "DLS405"]
    assert [(f.cell, f.line) for f in found] == [(3, 1)]
    assert "built on line 2 of cell 2" in found[0].message
