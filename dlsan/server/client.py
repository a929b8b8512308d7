"""A minimal LSP client over pipes, standard library only: drives ``dlsan server`` in the end-to-end
tests and the latency benchmark the way an editor does (JSON-RPC with ``Content-Length`` framing).

    with LspClient([sys.executable, "-m", "dlsan", "server"], root=project) as client:
        client.open(uri, text)
        diagnostics = client.diagnostics(uri)
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

Message = dict[str, Any]


class LspError(RuntimeError):
    """The server answered a request with an error, or did not answer in time."""


def _read_message(stream: IO[bytes]) -> Message | None:
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        return None
    body: Message = json.loads(stream.read(length).decode("utf-8"))
    return body


class LspClient:
    def __init__(self, command: Sequence[str], root: Path, *, capabilities: Message | None = None,
                 timeout: float = 120.0) -> None:
        self.timeout = timeout
        self.root = root
        self.process = subprocess.Popen(list(command), cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        self.stderr: list[str] = []
        self._messages: queue.Queue[Message] = queue.Queue()
        self._notifications: list[Message] = []
        self._next_id = 0
        self._write_lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.server_info = self.request("initialize", {
            "processId": None,
            "rootUri": root.as_uri(),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            "capabilities": capabilities if capabilities is not None else {
                "textDocument": {"publishDiagnostics": {"versionSupport": True},
                                 "codeAction": {"codeActionLiteralSupport": {
                                     "codeActionKind": {"valueSet": ["quickfix", "source.fixAll"]}}}},
                "notebookDocument": {"synchronization": {}},
            },
        })
        self.notify("initialized", {})

    # -- transport ------------------------------------------------------------------------------

    def _read(self) -> None:
        assert self.process.stdout is not None
        while True:
            message = _read_message(self.process.stdout)
            if message is None:
                return
            if "method" in message and "id" in message:  # a request from the server: accept it
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                continue
            self._messages.put(message)

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    def _send(self, message: Message) -> None:
        body = json.dumps(message).encode("utf-8")
        assert self.process.stdin is not None
        with self._write_lock:
            self.process.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode("ascii") + body)
            self.process.stdin.flush()

    def _next(self, timeout: float) -> Message:
        try:
            return self._messages.get(timeout=timeout)
        except queue.Empty:
            raise LspError(f"no message from the server in {timeout} s; its stderr:\n{''.join(self.stderr)}") from None

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any) -> Any:
        self._next_id += 1
        request_id = self._next_id
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        while True:
            message = self._next(self.timeout)
            if message.get("id") != request_id:
                self._notifications.append(message)
                continue
            if "error" in message:
                raise LspError(f"{method}: {message['error']}")
            return message.get("result")

    def notification(self, method: str, match: Callable[[Any], bool] = lambda params: True) -> Any:
        """The params of the first notification ``method`` (received or to come) that ``match``
        accepts; earlier ones are consumed."""
        while True:
            for i, message in enumerate(self._notifications):
                if message.get("method") == method and match(message.get("params")):
                    del self._notifications[: i + 1]
                    return message["params"]
            self._notifications.append(self._next(self.timeout))

    # -- what an editor does ----------------------------------------------------------------------

    def open(self, uri: str, text: str, version: int = 1, language: str = "python") -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language,
                                                              "version": version, "text": text}})

    def change(self, uri: str, text: str, version: int) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": [{"text": text}]})

    def diagnostics(self, uri: str, version: int | None = None) -> list[Message]:
        """The diagnostics published next for ``uri`` (for ``version`` when given)."""
        params = self.notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri and (
            version is None or p.get("version") == version))
        found: list[Message] = params["diagnostics"]
        return found

    def close(self) -> int:
        """shutdown, exit; returns the server's exit status."""
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            return self.process.wait(timeout=self.timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LspClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.process.poll() is None:
            self.close()
