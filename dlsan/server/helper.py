"""A second process that lints a document with part of the rules while the server lints it with
the others: the language server's answer to an edit of a large file comes in about the time of the
slower half instead of the whole.

The rules of one lint are independent of each other (each reports from what it sees, and facts
are computed per process from the same text), so two processes, each with its own reuse of the
document's earlier versions, find together exactly what one finds alone; the suppression comments
are applied once, to the sum (:class:`~dlsan.lint.engine.Unsuppressed`).

The helper is this module run as a program (``python -m dlsan.server.helper``), spoken to over its
standard input and output with length-prefixed pickles: it is our own child, on pipes nobody else
holds.  It ends when its input closes, so it never outlives the server.  Whenever it fails (it
could not start, died, or answered nonsense) the server lints the other half itself and stops
asking it.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from dlsan.lint.engine import Unsuppressed, unsuppressed
from dlsan.lint.reuse import DocumentReuse
from dlsan.lint.runner import Linter, LintPlan
from dlsan.lint.semantic.project import dependencies_of

_HEADER = struct.Struct(">Q")
#: set to ``0`` to lint in the server's process alone
HELPER_VARIABLE = "DLSAN_SERVER_HELPER"


def helper_wanted() -> bool:
    """Whether the server should lint with a helper process: there is a second core for it, and
    the user did not switch it off (``DLSAN_SERVER_HELPER=0``)."""
    return (os.cpu_count() or 1) >= 2 and os.environ.get(HELPER_VARIABLE, "1") != "0"


#: what the helper answers a lint with: the findings of its rules, the project files (path ->
#: content digest) they depend on, and the processor time the lint took there, in seconds
PartResult = tuple[Unsuppressed, dict[str, str], float]
#: a shared lint whose wall time is above this share of the two halves' processor times together
#: ran its halves one after the other (no core was free for the helper): it gained nothing
_SERIAL_SHARE = 0.9
#: how long the server then lints alone before it tries the helper again, in seconds
_ALONE_FOR = 30.0


def _send(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


class RuleHelper:
    """The server's side of the helper process: one lint at a time, sent, then collected."""

    def __init__(self, command: Sequence[str] | None = None) -> None:
        self._command = list(command or [sys.executable, "-m", "dlsan.server.helper"])
        self._process: subprocess.Popen[bytes] | None = None
        self._plans: list[Linter] = []  # the linters whose plans were sent, numbered in order
        self._pending = False
        self.failed = False
        #: until when (``time.monotonic()``) the server lints alone: the machine had no core free
        self._alone_until = 0.0

    def start(self) -> None:
        """Start the process now (it imports the linter while the server waits for a document)."""
        if self._process is None and not self.failed:
            try:
                self._process = subprocess.Popen(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            except OSError:
                self.failed = True

    def worthwhile(self) -> bool:
        """Whether to share the next lint: the helper works, and the last shared lints ran in
        parallel (on a machine whose cores are all busy, two halves cost more than one whole)."""
        return not self.failed and time.monotonic() >= self._alone_until

    def observe(self, wall: float, processor: float) -> None:
        """A shared lint took ``wall`` seconds for ``processor`` seconds of work in the two
        processes: when they did not overlap, lint alone for a while."""
        if processor > 0 and wall > _SERIAL_SHARE * processor:
            self._alone_until = time.monotonic() + _ALONE_FOR

    def submit(self, linter: Linter, path: str, text: str, codes: Sequence[str]) -> bool:
        """Ask for the lint of ``text`` as ``path`` by the rules ``codes`` of ``linter``'s plan;
        False when the helper cannot take it (lint them yourself then)."""
        self.start()
        process = self._process
        if process is None or process.stdin is None or self._pending:
            return False
        number = next((n for n, known in enumerate(self._plans) if known is linter), None)
        try:
            if number is None:
                number = len(self._plans)
                _send(process.stdin, ("plan", number, linter.plan))
                self._plans.append(linter)
            _send(process.stdin, ("lint", number, path, text, tuple(codes)))
        except (OSError, ValueError, pickle.PicklingError):
            self._fail()
            return False
        self._pending = True
        return True

    def result(self) -> PartResult | None:
        """The answer to the last :meth:`submit`; None when the helper failed to give one."""
        process = self._process
        if not self._pending or process is None or process.stdout is None:
            return None
        self._pending = False
        try:
            answer = _receive(process.stdout)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
            answer = None
        if not _is_part_result(answer):
            self._fail()
            return None
        return answer  # type: ignore[no-any-return]

    def forget(self, path: str) -> None:
        """The document at ``path`` was closed: the helper drops what it kept of it."""
        process = self._process
        if process is None or process.stdin is None or self._pending:
            return
        try:
            _send(process.stdin, ("forget", path))
        except (OSError, ValueError):
            self._fail()

    def close(self) -> None:
        """End the helper (its input closes; it exits)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            try:
                process.stdin.close()
            except OSError:
                pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def _fail(self) -> None:
        self.failed = True
        self._pending = False
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()


def _is_part_result(answer: object) -> bool:
    return (isinstance(answer, tuple) and len(answer) == 3 and isinstance(answer[0], Unsuppressed)
            and isinstance(answer[1], dict) and isinstance(answer[2], float))


def lint_part(linter: Linter, path: str, text: str, codes: Sequence[str], reuse: DocumentReuse | None) -> Unsuppressed:
    """The lint of ``text`` as ``path`` by those of ``linter``'s rules for ``path`` whose code is in
    ``codes``, before suppression comments."""
    selection = linter.selection_for(Path(path))
    wanted = frozenset(codes)
    part = replace(selection, rules=[rule for rule in selection.rules if rule.code in wanted])
    return unsuppressed(path, text, part, reuse=reuse)


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The helper's loop: answer lint requests until ``requests`` ends."""
    from dlsan.lint.runner import fewer_collections

    linters: dict[int, Linter] = {}
    documents: dict[str, DocumentReuse] = {}
    while True:
        message = _receive(requests)
        if message is None:
            return
        kind = message[0]
        if kind == "plan":
            _, number, plan = message
            assert isinstance(plan, LintPlan)
            linters[number] = Linter(plan)
        elif kind == "forget":
            documents.pop(message[1], None)
        elif kind == "lint":
            _, number, path, text, codes = message
            start = time.process_time()
            with fewer_collections():
                outcome = lint_part(linters[number], path, text, codes, documents.setdefault(path, DocumentReuse()))
            _send(answers, (outcome, dependencies_of(path), time.process_time() - start))


if __name__ == "__main__":
    _answers = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not break the protocol
    serve(sys.stdin.buffer, _answers)
