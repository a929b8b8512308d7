"""`dlsan server` end to end: a real LSP session over pipes with the server in a subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("pygls")

from dlsan.server.client import LspClient  # noqa: E402


@pytest.fixture(autouse=True)
def _torch_before_2_6(monkeypatch):
    """These tests use a bare ``torch.load`` as their DLS602 example, a finding before PyTorch 2.6."""
    monkeypatch.setenv("DLSAN_TARGET_TORCH_VERSION", "2.5")

TRAIN = (
    "import torch\n"
    "\n"
    "state = torch.load('ckpt.pt')\n"
    "total = 0\n"
    "for x, y in loader:\n"
    "    optimizer.zero_grad()\n"
    "    loss = model(x).sum()\n"
    "    loss.backward()\n"
    "    optimizer.step()\n"
    "    total += loss\n"
)
EVERYTHING = {"start": {"line": 0, "character": 0}, "end": {"line": 999, "character": 0}}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


@pytest.fixture
def client(workspace: Path):
    with LspClient([sys.executable, "-m", "dlsan", "server"], workspace) as session:
        yield session


def _codes(diagnostics) -> list[tuple[str, int, int]]:
    return [(d["code"], d["range"]["start"]["line"], d["range"]["start"]["character"]) for d in diagnostics]


def test_diagnostics_carry_code_message_and_a_link_to_the_rule(client, workspace):
    uri = (workspace / "train.py").as_uri()
    client.open(uri, TRAIN)
    diagnostics = client.diagnostics(uri)
    assert _codes(diagnostics) == [("DLS602", 2, 8), ("DLS101", 9, 4)]
    load = diagnostics[0]
    assert load["source"] == "dlsan" and load["message"].startswith("`torch.load` without `weights_only=`")
    assert load["range"]["end"] == {"line": 2, "character": 29}
    assert load["codeDescription"]["href"].endswith("/docs/rules/DLS602.md")


def test_code_actions_per_fix_unsafe_labelled_and_fix_all_safe(client, workspace):
    uri = (workspace / "train.py").as_uri()
    client.open(uri, TRAIN)
    diagnostics = client.diagnostics(uri)
    actions = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": EVERYTHING, "context": {"diagnostics": diagnostics}})
    by_title = {action["title"]: action for action in actions}
    assert sorted(by_title) == ["Accumulate `.item()` (DLS101)", "Add `weights_only=True` (DLS602, unsafe fix)",
                                "dlsan: fix all safe fixes"]
    item = by_title["Accumulate `.item()` (DLS101)"]
    assert item["kind"] == "quickfix" and item["isPreferred"] is True
    assert item["edit"]["changes"][uri] == [{"range": {"start": {"line": 9, "character": 13},
                                                       "end": {"line": 9, "character": 17}},
                                             "newText": "loss.item()"}]
    assert by_title["Add `weights_only=True` (DLS602, unsafe fix)"]["isPreferred"] is False
    (whole,) = by_title["dlsan: fix all safe fixes"]["edit"]["changes"][uri]
    assert whole["newText"] == TRAIN.replace("total += loss", "total += loss.item()")  # the safe fix only
    only_line_3 = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": {"start": {"line": 2, "character": 10}, "end": {"line": 2, "character": 10}},
        "context": {"diagnostics": [], "only": ["quickfix"]}})
    assert [a["title"] for a in only_line_3] == ["Add `weights_only=True` (DLS602, unsafe fix)"]
    fix_all = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": EVERYTHING, "context": {"diagnostics": [], "only": ["source.fixAll"]}})
    assert [a["kind"] for a in fix_all] == ["source.fixAll.dlsan"]


def test_change_and_save_publish_again(client, workspace):
    uri = (workspace / "train.py").as_uri()
    client.open(uri, TRAIN)
    client.diagnostics(uri)
    fixed = TRAIN.replace("torch.load('ckpt.pt')", "torch.load('ckpt.pt', weights_only=True)")
    client.change(uri, fixed, version=2)
    assert _codes(client.diagnostics(uri, version=2)) == [("DLS101", 9, 4)]
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert _codes(client.diagnostics(uri)) == [("DLS101", 9, 4)]
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri) == []


def test_a_burst_of_changes_never_publishes_diagnostics_for_text_that_changed(client, workspace):
    uri = (workspace / "burst.py").as_uri()
    client.open(uri, "import torch\n")
    assert client.diagnostics(uri) == []
    for version in range(2, 8):  # version v loads v - 1 checkpoints
        client.change(uri, "import torch\n" + "".join(f"s{i} = torch.load(p)\n" for i in range(version - 1)), version)
    published = []
    while not published or published[-1][0] != 7:
        params = client.notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
        published.append((params["version"], len(params["diagnostics"])))
    assert all(count == version - 1 for version, count in published), published


def test_positions_are_utf16_code_units(client, workspace):
    uri = (workspace / "emoji.py").as_uri()
    client.open(uri, "import torch\nstate = {'🙂': torch.load(p)}\n")
    ((code, line, character),) = _codes(client.diagnostics(uri))
    assert (code, line, character) == ("DLS602", 1, 15)  # the emoji is two UTF-16 units


def test_each_workspace_folder_has_its_own_config(tmp_path):
    for name, ignore in (("strict", "[]"), ("lenient", '["DLS602"]')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pyproject.toml").write_text(f"[tool.dlsan]\nignore = {ignore}\n")
    with LspClient([sys.executable, "-m", "dlsan", "server"], tmp_path) as client:
        for name, expected in (("strict", ["DLS602", "DLS101"]), ("lenient", ["DLS101"])):
            uri = (tmp_path / name / "train.py").as_uri()
            client.open(uri, TRAIN)
            assert [code for code, *_ in _codes(client.diagnostics(uri))] == expected, name
        # the config changes: saved, it is read again
        (tmp_path / "strict" / "pyproject.toml").write_text('[tool.dlsan]\nignore = ["DLS101"]\n')
        client.notify("textDocument/didSave", {"textDocument": {"uri": (tmp_path / "strict" / "pyproject.toml").as_uri()}})
        assert [c for c, *_ in _codes(client.diagnostics((tmp_path / "strict" / "train.py").as_uri()))] == ["DLS602"]


def test_a_bad_config_is_shown_not_crashed_on(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.dlsan]\nselct = ['DLS1']\n")
    with LspClient([sys.executable, "-m", "dlsan", "server"], tmp_path) as client:
        uri = (tmp_path / "train.py").as_uri()
        client.open(uri, TRAIN)
        message = client.notification("window/showMessage")
        assert "unknown key" in message["message"] and "selct" in message["message"]
        assert client.diagnostics(uri) == []


def test_notebook_documents_are_linted_as_one_module(client, workspace):
    notebook = (workspace / "nb.ipynb").as_uri()
    cells = [
        ("markdown", "# Leaky"),
        ("python", "%matplotlib inline\nimport torch\nfrom sklearn.preprocessing import StandardScaler\n"
                   "from sklearn.model_selection import train_test_split\nX = StandardScaler().fit_transform(X_raw)"),
        ("python", "X_train, X_test = train_test_split(X)"),
        ("python", "state = torch.load(path)"),
    ]
    client.notify("notebookDocument/didOpen", {
        "notebookDocument": {"uri": notebook, "notebookType": "jupyter-notebook", "version": 1, "cells": [
            {"kind": 1 if language == "markdown" else 2, "document": f"{notebook}#cell{i}"}
            for i, (language, _) in enumerate(cells)]},
        "cellTextDocuments": [{"uri": f"{notebook}#cell{i}", "languageId": language, "version": 1, "text": text}
                              for i, (language, text) in enumerate(cells)],
    })
    published = {}
    for _ in range(3):  # one publication per code cell
        params = client.notification("textDocument/publishDiagnostics")
        published[params["uri"]] = _codes(params["diagnostics"])
    assert published == {f"{notebook}#cell1": [("DLS401", 4, 4)], f"{notebook}#cell2": [],
                         f"{notebook}#cell3": [("DLS602", 0, 8)]}
    cell = f"{notebook}#cell3"
    (action,) = client.request("textDocument/codeAction", {
        "textDocument": {"uri": cell}, "range": EVERYTHING, "context": {"diagnostics": []}})
    assert action["edit"]["changes"][cell] == [{"range": {"start": {"line": 0, "character": 23},
                                                          "end": {"line": 0, "character": 23}},
                                                "newText": ", weights_only=True"}]


def test_a_notebook_edited_as_json_gets_diagnostics_on_its_json_lines(client, workspace):
    leaky = Path(__file__).resolve().parents[2] / "fixtures" / "notebooks" / "leaky.ipynb"
    text = leaky.read_text(encoding="utf-8")
    uri = (workspace / "leaky.ipynb").as_uri()
    client.open(uri, text, language="json")
    diagnostics = client.diagnostics(uri)
    lines = text.splitlines()
    assert [(d["code"], d["range"]["start"]["line"]) for d in diagnostics] == [("DLS401", 57), ("DLS101", 126),
                                                                             ("DLS602", 137)]
    assert lines[126].strip() == '"    total_loss += loss\\n",'
    assert diagnostics[1]["message"].startswith("cell 9, line 8: ")
    assert diagnostics[1]["range"]["end"] == {"line": 126, "character": len(lines[126])}


def test_notebook_sync_is_offered_only_to_clients_that_support_it(workspace):
    with LspClient([sys.executable, "-m", "dlsan", "server"], workspace, capabilities={}) as plain:
        assert "notebookDocumentSync" not in plain.server_info["capabilities"]
    with LspClient([sys.executable, "-m", "dlsan", "server"], workspace) as notebooks:
        (selector,) = notebooks.server_info["capabilities"]["notebookDocumentSync"]["notebookSelector"]
        assert selector == {"notebook": "jupyter-notebook", "cells": [{"language": "python"}]}


def test_shutdown_and_exit_end_the_server(workspace):
    client = LspClient([sys.executable, "-m", "dlsan", "server"], workspace)
    assert client.server_info["serverInfo"]["name"] == "dlsan"
    assert client.close() == 0


def test_without_the_extra_the_command_says_what_to_install(monkeypatch):
    import dlsan.server
    from dlsan.cli import cli

    monkeypatch.setattr(dlsan.server, "lsp_available", lambda: False)
    result = CliRunner().invoke(cli, ["server"])
    assert result.exit_code == 2 and "pip install 'dlsan[lsp]'" in result.output


def test_a_linter_crash_is_logged_and_the_document_is_linted_again_later(monkeypatch):
    import asyncio

    from dlsan.server.server import DlsanServer

    server = DlsanServer()
    logged: list[str] = []
    ran: list[str] = []
    monkeypatch.setattr(server, "window_log_message", lambda params: logged.append(params.message))

    async def crash() -> None:
        raise RuntimeError("boom")

    async def lint() -> None:
        ran.append("linted")

    async def session() -> None:
        server.schedule("file:///x.py", crash)
        await asyncio.sleep(0.05)
        server.schedule("file:///x.py", lint)
        await asyncio.sleep(0.05)

    asyncio.run(session())
    assert logged == ["dlsan: linting file:///x.py failed: RuntimeError: boom"]
    assert ran == ["linted"]
