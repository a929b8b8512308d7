"""``dlsan server``: the language server, on pygls over stdio.

Diagnostics are published on open, change and save of Python documents and of Jupyter notebook
documents (LSP 3.17 notebook sync: each code cell is a text document; the cells are linted together
as one module and each cell gets its own diagnostics).  Every fixable finding offers a quick fix
(unsafe ones say so in their title), and ``source.fixAll.dlsan`` applies every safe fix at once.

Linting a large file takes longer than typing a character, so documents are linted off the event
loop, one at a time, on a snapshot of their text; changes that arrive meanwhile are coalesced into
one more lint of the latest text, and results for text that has changed since are never published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from dlsan.__about__ import __version__
from dlsan.config import ConfigError
from dlsan.lint.finding import PARSE_ERROR_CODE, Fix, LintFinding
from dlsan.lint.notebooks import is_notebook
from dlsan.report.links import rule_url
from dlsan.report.sources import SourceLines, cell_note
from dlsan.server.helper import RuleHelper, helper_wanted
from dlsan.server.session import Session

SOURCE = "dlsan"
FIX_ALL = f"{types.CodeActionKind.SourceFixAll.value}.{SOURCE}"
_NOTEBOOK_SYNC = types.NotebookDocumentSyncOptions(
    notebook_selector=[types.NotebookDocumentFilterWithCells(
        notebook="jupyter-notebook", cells=[types.NotebookCellLanguage(language="python")])],
    save=True,
)


def uri_path(uri: str) -> str:
    """The file system path of a ``file:`` URI; other schemes (``untitled:``) keep their path part,
    so that ``per-file-ignores`` still see a name."""
    return to_fs_path(uri) or unquote(urlparse(uri).path) or uri


class DlsanServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(SOURCE, __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         notebook_document_sync=_NOTEBOOK_SYNC)
        self.session = Session(RuleHelper() if helper_wanted() else None)
        #: the findings last published, by document URI (a cell's URI for notebook cells), with the
        #: document version they belong to
        self.findings: dict[str, tuple[int | None, list[LintFinding]]] = {}
        self._linter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlsan-lint")
        self._running: set[str] = set()
        self._stale: set[str] = set()

    # -- positions -----------------------------------------------------------------------------

    def _range(self, document: TextDocument, line: int, column: int, end_line: int, end_column: int,
               lines: Sequence[str] | None = None) -> types.Range:
        """An LSP range (0-based, in the client's code units) from 1-based code-point positions
        (``lines``: the document's, when the caller has them: pygls splits the text on each ask)."""
        codec = document.position_codec
        lines = document.lines if lines is None else lines
        start = codec.position_to_client_units(lines, types.Position(line - 1, column - 1))
        end = codec.position_to_client_units(lines, types.Position(end_line - 1, end_column - 1))
        return types.Range(start, end)

    def diagnostic(self, document: TextDocument, finding: LintFinding,
                   lines: Sequence[str] | None = None) -> types.Diagnostic:
        severity = types.DiagnosticSeverity.Error if finding.code == PARSE_ERROR_CODE else types.DiagnosticSeverity.Warning
        return types.Diagnostic(
            range=self._range(document, finding.line, finding.column, finding.end_line, finding.end_column, lines),
            message=finding.message,
            severity=severity,
            code=finding.code,
            code_description=types.CodeDescription(href=rule_url(finding.code)),
            source=SOURCE,
            data={"name": finding.name},
        )

    def text_edits(self, document: TextDocument, fix: Fix) -> list[types.TextEdit]:
        return [types.TextEdit(self._range(document, e.line, e.column, e.end_line, e.end_column), e.content)
                for e in fix.edits]

    # -- linting -------------------------------------------------------------------------------

    def _publish(self, document: TextDocument, findings: Sequence[LintFinding]) -> None:
        self.findings[document.uri] = (document.version, list(findings))
        lines = document.lines
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=document.uri, version=document.version,
            diagnostics=[self.diagnostic(document, finding, lines) for finding in findings]))

    def _config_problem(self, error: ConfigError) -> None:
        self.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"dlsan: {error}"))

    def schedule(self, key: str, lint: Any) -> None:
        """Run ``lint`` (a coroutine function) for ``key`` now, or once more after the run in
        progress when there is one."""
        if key in self._running:
            self._stale.add(key)
            return
        self._running.add(key)

        async def run() -> None:
            try:
                while True:
                    self._stale.discard(key)
                    await lint()
                    if key not in self._stale:
                        return
            except Exception as error:  # a linter bug must not take the server down with it
                self.window_log_message(types.LogMessageParams(
                    types.MessageType.Error, f"dlsan: linting {key} failed: {type(error).__name__}: {error}"))
            finally:
                self._running.discard(key)

        asyncio.get_running_loop().create_task(run())

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._linter, function, *args)

    def lint_document(self, uri: str) -> None:
        if self.workspace.get_notebook_document(cell_uri=uri) is not None:
            return  # a notebook cell: linted with its notebook

        async def lint() -> None:
            live = self.workspace.get_text_document(uri)
            snapshot = TextDocument(uri, live.source, live.version, position_codec=live.position_codec)
            path = uri_path(uri)
            try:
                findings = await self._in_thread(self.session.lint, path, snapshot.source)
            except ConfigError as error:
                self._config_problem(error)
                findings = []
            if is_notebook(path):  # a notebook edited as its JSON text
                findings = on_file_lines(findings, snapshot)
            if uri not in self._stale and unquote(uri) in self.workspace.text_documents:
                self._publish(snapshot, findings)

        self.schedule(uri, lint)

    def lint_notebook(self, notebook_uri: str) -> None:
        async def lint() -> None:
            notebook = self.workspace.get_notebook_document(notebook_uri=notebook_uri)
            if notebook is None:
                return
            documents = []
            for cell in notebook.cells:
                live = self.workspace.get_text_document(cell.document)
                documents.append(TextDocument(live.uri, live.source, live.version,
                                              position_codec=live.position_codec))
            code = [(i, document.source) for i, (cell, document) in enumerate(zip(notebook.cells, documents))
                    if cell.kind == types.NotebookCellKind.Code]
            try:
                findings = await self._in_thread(self.session.lint_cells, uri_path(notebook_uri), code)
            except ConfigError as error:
                self._config_problem(error)
                findings = []
            if notebook_uri in self._stale:
                return
            by_cell: dict[int, list[LintFinding]] = {index: [] for index, _ in code}
            for finding in findings:
                by_cell.setdefault((finding.cell or 1) - 1, []).append(finding)
            for index, found in by_cell.items():
                self._publish(documents[index], found)

        self.schedule(notebook_uri, lint)

    # -- code actions ----------------------------------------------------------------------------

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        document = self.workspace.get_text_document(uri)
        wanted = params.context.only
        actions: list[types.CodeAction] = []
        version, findings = self.findings.get(uri, (None, []))
        if version != document.version:  # the text changed since: its fixes would land wrong
            return []
        if not wanted or any(kind.startswith(types.CodeActionKind.QuickFix.value) for kind in wanted):
            lines = document.lines
            for finding in findings:
                if finding.fix is not None and _overlaps(self.diagnostic(document, finding, lines).range, params.range):
                    actions.append(self._quick_fix(document, finding, finding.fix))
        if not wanted or any(FIX_ALL.startswith(kind) for kind in wanted):
            fix_all = await self._fix_all(document)
            if fix_all is not None:
                actions.append(fix_all)
        return actions

    def _quick_fix(self, document: TextDocument, finding: LintFinding, fix: Fix) -> types.CodeAction:
        unsafe = fix.applicability == "unsafe"
        title = f"{fix.message} ({finding.code}{', unsafe fix' if unsafe else ''})"
        return types.CodeAction(
            title=title,
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[self.diagnostic(document, finding)],
            is_preferred=not unsafe,
            edit=types.WorkspaceEdit(changes={document.uri: self.text_edits(document, fix)}),
        )

    async def _fix_all(self, document: TextDocument) -> types.CodeAction | None:
        """Every safe fix in the document as one edit (not offered in notebook cells, whose fixes
        are one quick fix each)."""
        if self.workspace.get_notebook_document(cell_uri=document.uri) is not None:
            return None
        _, findings = self.findings.get(document.uri, (None, []))
        if not any(f.fix is not None and f.fix.applicability == "safe" for f in findings):
            return None
        version = document.version
        whole = types.Range(types.Position(0, 0), types.Position(len(document.lines), 0))
        try:
            fixed = await self._in_thread(self.session.fix_all, uri_path(document.uri), document.source)
        except ConfigError:
            return None
        if fixed is None or document.version != version:  # changed meanwhile: the edit would clobber it
            return None
        return types.CodeAction(
            title="dlsan: fix all safe fixes", kind=FIX_ALL,
            edit=types.WorkspaceEdit(changes={document.uri: [types.TextEdit(whole, fixed)]}),
        )


def on_file_lines(findings: Sequence[LintFinding], document: TextDocument) -> list[LintFinding]:
    """Findings of a notebook opened as its JSON text, moved from their cell to the whole line of
    the JSON that stores that cell line, the cell named in the message; their fixes, in cell
    coordinates, are dropped."""
    sources = SourceLines({document.path: document.source})
    moved = []
    for finding in findings:
        if finding.cell is None:
            moved.append(finding)
            continue
        line = sources.file_line(replace(finding, path=document.path))
        width = len(document.lines[line - 1].rstrip("\r\n")) if line <= len(document.lines) else 0
        moved.append(replace(finding, line=line, column=1, end_line=line, end_column=width + 1, cell=None,
                             fix=None, message=f"{cell_note(finding)}{finding.message}"))
    return moved


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(position: types.Position) -> tuple[int, int]:
        return position.line, position.character

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def build_server() -> DlsanServer:
    server = DlsanServer()

    def lint_text(ls: DlsanServer, params: types.DidOpenTextDocumentParams | types.DidChangeTextDocumentParams) -> None:
        ls.lint_document(params.text_document.uri)

    def lint_notebook(ls: DlsanServer, params: Any) -> None:
        ls.lint_notebook(params.notebook_document.uri)

    for method in (types.TEXT_DOCUMENT_DID_OPEN, types.TEXT_DOCUMENT_DID_CHANGE):
        server.feature(method)(lint_text)
    for method in (types.NOTEBOOK_DOCUMENT_DID_OPEN, types.NOTEBOOK_DOCUMENT_DID_CHANGE,
                   types.NOTEBOOK_DOCUMENT_DID_SAVE):
        server.feature(method)(lint_notebook)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: DlsanServer, params: types.DidSaveTextDocumentParams) -> None:
        if params.text_document.uri.endswith("pyproject.toml"):
            ls.session.forget_config()
            for uri in list(ls.findings):
                if ls.workspace.get_notebook_document(cell_uri=uri) is None:
                    ls.lint_document(uri)
            return
        ls.lint_document(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DlsanServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.findings.pop(params.text_document.uri, None)
        ls.session.forget_document(uri_path(params.text_document.uri))
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(params.text_document.uri, []))

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_close(ls: DlsanServer, params: types.DidCloseNotebookDocumentParams) -> None:
        for cell in params.cell_text_documents:
            ls.findings.pop(cell.uri, None)
            ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(cell.uri, []))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched_files(ls: DlsanServer, params: types.DidChangeWatchedFilesParams) -> None:
        ls.session.forget_config()

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL]))
    async def code_action(ls: DlsanServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return await ls.code_actions(params)

    return server


def serve(**kwargs: Any) -> None:
    """Run the server on stdin/stdout until the client says exit."""
    server = build_server()
    if server.session.helper is not None:
        server.session.helper.start()  # it imports the linter while the client starts up
    try:
        server.start_io(**kwargs)
    finally:
        server.session.close()
