"""The CLI's input and output options end to end: standard input, formats, colour, files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _torch_before_2_6(monkeypatch):
    """These tests use a bare ``torch.load`` as their DLS602 example, a finding before PyTorch 2.6."""
    monkeypatch.setenv("DLSAN_TARGET_TORCH_VERSION", "2.5")

REPO = Path(__file__).resolve().parents[2]
LEAKY = REPO / "fixtures" / "notebooks" / "leaky.ipynb"
BUGGY = "import torch\n\nstate = torch.load('ckpt.pt')\nopt = torch.optim.Adam(params, weight_decay=1e-4)\n"
CONFIG = '[tool.dlsan]\nper-file-ignores = { "legacy/*" = ["DLS602"] }\n'


def test_stdin_reports_as_the_given_path_with_its_per_file_ignores(run_dlsan, tmp_path):
    (tmp_path / "pyproject.toml").write_text(CONFIG)
    def codes(name: str) -> list[tuple[str, str]]:
        out = run_dlsan("check", "-", "--stdin-filename", name, "--output-format", "json", cwd=tmp_path, input=BUGGY)
        assert out.returncode == 1, out.stderr
        return [(f["path"], f["code"]) for f in json.loads(out.stdout)]

    assert codes("legacy/old.py") == [("legacy/old.py", "DLS501")]
    assert codes("src/new.py") == [("src/new.py", "DLS602"), ("src/new.py", "DLS501")]
    assert not (tmp_path / "src").exists()  # nothing was written for the path named


def test_stdin_follows_the_config_of_the_named_path(run_dlsan, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pyproject.toml").write_text('[tool.dlsan]\nignore = ["DLS501"]\n')
    out = run_dlsan("check", "-", "--stdin-filename", "sub/x.py", "--output-format", "concise",
                    cwd=tmp_path, input=BUGGY)
    assert [line.split()[1] for line in out.stdout.splitlines()] == ["DLS602"]


def test_stdin_fix_prints_the_fixed_text_and_the_findings_on_stderr(run_dlsan, tmp_path):
    out = run_dlsan("check", "-", "--stdin-filename", "t.py", "--fix", "--unsafe-fixes", cwd=tmp_path, input=BUGGY)
    assert out.stdout == BUGGY.replace("torch.load('ckpt.pt')", "torch.load('ckpt.pt', weights_only=True)") \
        .replace("torch.optim.Adam(", "torch.optim.AdamW(")
    assert not (tmp_path / "t.py").exists()
    clean = run_dlsan("check", "-", "--fix", cwd=tmp_path, input="x = 1\n")
    assert clean.stdout == "x = 1\n" and clean.returncode == 0


def test_stdin_notebook(run_dlsan, tmp_path):
    text = LEAKY.read_text(encoding="utf-8")
    out = run_dlsan("check", "-", "--stdin-filename", "nb.ipynb", "--output-format", "concise", cwd=tmp_path,
                    input=text)
    assert [line.split(": ")[0] for line in out.stdout.splitlines()] == [
        "nb.ipynb:cell 4:2:12", "nb.ipynb:cell 9:8:5", "nb.ipynb:cell 10:1:9"]
    fixed = run_dlsan("check", "-", "--stdin-filename", "nb.ipynb", "--fix", cwd=tmp_path, input=text)
    assert json.loads(fixed.stdout)["cells"][8]["source"][7] == "    total_loss += loss.item()\n"
    assert "DLS401" in fixed.stderr


def test_stdin_uses_the_cache_keyed_by_path_and_content(run_dlsan, tmp_path):
    first = run_dlsan("check", "-", "--stdin-filename", "a.py", "--output-format", "json", cwd=tmp_path, input=BUGGY)
    again = run_dlsan("check", "-", "--stdin-filename", "b.py", "--output-format", "json", cwd=tmp_path, input=BUGGY)
    assert [f["path"] for f in json.loads(again.stdout)] == ["b.py", "b.py"]
    assert [f["code"] for f in json.loads(again.stdout)] == [f["code"] for f in json.loads(first.stdout)]


def test_stdin_filename_without_dash_is_a_usage_error(run_dlsan, tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    out = run_dlsan("check", "a.py", "--stdin-filename", "a.py", cwd=tmp_path)
    assert out.returncode == 2 and "--stdin-filename needs `-`" in out.stderr


def test_full_text_is_the_default_and_concise_and_text_alias_exist(run_dlsan, tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    full = run_dlsan("check", "train.py", cwd=tmp_path)
    assert full.stdout.splitlines()[:6] == [
        full.stdout.splitlines()[0],
        "  |",
        "1 | import torch",
        "2 |",
        "3 | state = torch.load('ckpt.pt')",
        "  |         ^^^^^^^^^^^^^^^^^^^^^ DLS602",
    ]
    assert full.stdout.endswith("\n") and "\033[" not in full.stdout
    assert run_dlsan("check", "--format", "text", "train.py", cwd=tmp_path).stdout == full.stdout
    concise = run_dlsan("check", "--output-format", "concise", "train.py", cwd=tmp_path).stdout
    assert [line.split(": ")[0] for line in concise.splitlines()] == ["train.py:3:9", "train.py:4:7"]


def test_color_always_never_and_no_color(run_dlsan, tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    assert "\033[" in run_dlsan("check", "--color", "always", "train.py", cwd=tmp_path).stdout
    assert "\033[" not in run_dlsan("check", "--color", "never", "train.py", cwd=tmp_path).stdout


def test_color_auto_respects_no_color_on_a_terminal(monkeypatch):
    import io

    from dlsan.report.style import use_color

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color("auto", Terminal()) and not use_color("auto", io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color("auto", Terminal()) and use_color("always", Terminal())


def test_output_file_and_quiet(run_dlsan, tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    out = run_dlsan("check", "-o", "report.json", "--output-format", "json", "train.py", cwd=tmp_path)
    assert out.returncode == 1 and out.stdout == ""
    assert [f["code"] for f in json.loads((tmp_path / "report.json").read_text())] == ["DLS602", "DLS501"]
    quiet = run_dlsan("check", "--quiet", "--output-format", "concise", "train.py", cwd=tmp_path)
    assert quiet.stderr == "" and len(quiet.stdout.splitlines()) == 2


def test_show_fixes_lists_what_was_fixed_per_file(run_dlsan, tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    shutil.copy(LEAKY, tmp_path / "nb.ipynb")
    out = run_dlsan("check", "--fix", "--unsafe-fixes", "--show-fixes", ".", cwd=tmp_path)
    assert "Fixed 2 findings in nb.ipynb:\n    1 × DLS101 (loss-accumulated-with-graph)\n" \
           "    1 × DLS602 (torch-load-without-weights-only)" in out.stderr
    assert "Fixed 2 findings in train.py:\n    1 × DLS501 (adam-weight-decay)\n" in out.stderr


def test_every_format_is_accepted(run_dlsan, tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    for fmt in ("full", "concise", "json", "json-lines", "sarif", "github", "gitlab", "junit", "pylint"):
        out = run_dlsan("check", "--output-format", fmt, "train.py", cwd=tmp_path)
        assert out.returncode == 1 and out.stdout.endswith("\n"), (fmt, out.stderr)


def test_diff_of_a_notebook_is_per_cell_and_writes_nothing(run_dlsan, tmp_path):
    shutil.copy(LEAKY, tmp_path / "nb.ipynb")
    out = run_dlsan("check", "--diff", "--unsafe-fixes", "nb.ipynb", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stdout.splitlines()[:2] == ["--- a/nb.ipynb:cell 9", "+++ b/nb.ipynb:cell 9"]
    assert "-    total_loss += loss\n+    total_loss += loss.item()\n" in out.stdout
    assert "+state = torch.load('ckpt.pt', weights_only=True)\n" in out.stdout
    assert (tmp_path / "nb.ipynb").read_bytes() == LEAKY.read_bytes()


def test_add_noqa_writes_into_the_notebook_cells(run_dlsan, tmp_path):
    shutil.copy(LEAKY, tmp_path / "nb.ipynb")
    out = run_dlsan("check", "--add-noqa", "nb.ipynb", cwd=tmp_path)
    assert out.returncode == 0 and "Added 3 noqa directives." in out.stderr
    cells = json.loads((tmp_path / "nb.ipynb").read_text(encoding="utf-8"))["cells"]
    assert cells[3]["source"][1] == "X_scaled = scaler.fit_transform(X)  # noqa: DLS401"
    assert cells[8]["source"][7] == "    total_loss += loss  # noqa: DLS101\n"
    assert cells[8]["outputs"] == json.loads(LEAKY.read_text(encoding="utf-8"))["cells"][8]["outputs"]
    assert run_dlsan("check", "nb.ipynb", cwd=tmp_path).returncode == 0
