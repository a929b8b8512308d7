"""Language server latency: didChange -> publishDiagnostics on a 2,000-line file (target < 300 ms).

    python benchmarks/server_latency.py [--lines 2000] [--edits 10] [--file PATH]

Runs `dlsan server` in a subprocess and drives it over pipes as an editor does.  The document is
built from the repository's fixture files (realistic training code, dense in findings) repeated to
--lines lines, or is --file.  Three kinds of edit (dlsan/server/edits.py), one row each:

  code       an assignment inside a function body edited (` * 1` appended), a different one each time
  insert     a new top-level line inserted above the first function: every later position moves
  comment    a comment appended to the middle line (the edit this benchmark measured first)

and side by side, in milliseconds:

  parse      one whole libcst parse of the text, in this process (what every lint paid before the
             server parsed incrementally)
  lint       one in-process lint of the edited text by a session that linted the previous version
             (what the server does per change)
  didChange  didChange -> publishDiagnostics of that version, one edit at a time (median, max), by
             the server as it starts by default: with a helper process that lints half of the rules
             on the second core (dlsan/server/helper.py)
  alone      the same didChange median with the helper switched off (DLSAN_SERVER_HELPER=0): the
             server linting in its one process
  burst      five didChange sent at once -> the diagnostics of the last one (coalesced)

Timings are medians over --edits edits (the machine may be shared: compare the columns of one run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import libcst as cst

from dlsan.server.client import LspClient
from dlsan.server.edits import Edit, code_edit, comment_edit, inserted_line
from dlsan.server.helper import HELPER_VARIABLE
from dlsan.server.session import Session

REPO = Path(__file__).resolve().parents[1]
TARGET_MS = 300.0


def document(lines: int) -> str:
    """Whole top-level statements of the fixture files, in turn, until ``lines`` lines: valid Python
    (a cut inside a statement would make the benchmark measure the parse-error path)."""
    pieces = [cst.parse_module(path.read_text(encoding="utf-8"))
              for path in sorted((REPO / "fixtures").glob("*.py"))]
    text: list[str] = []
    while True:
        for module in pieces:
            for statement in module.body:
                if _is_future_import(statement) and text:
                    continue  # only allowed at the top of a file
                code = module.code_for_node(statement).splitlines()
                if len(text) + len(code) > lines:
                    return "\n".join(text) + "\n"
                text.extend(code)


def _is_future_import(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(small, cst.ImportFrom) and isinstance(small.module, cst.Name) and small.module.value == "__future__"
        for small in statement.body)


def _ms(seconds: float) -> float:
    return seconds * 1000.0


EDITS: dict[str, Edit] = {"code": code_edit, "insert": inserted_line, "comment": comment_edit}


def in_process(path: Path, text: str, edit: Edit, repeat: int) -> tuple[float, float]:
    parse, lint = [], []
    session = Session()
    session.lint(str(path), text)  # imports and rule loading, once
    for n in range(repeat):
        start = time.perf_counter()
        cst.parse_module(text)
        parse.append(time.perf_counter() - start)
        changed = edit(text, n)  # what a change costs (unchanged text is answered from the last lint)
        start = time.perf_counter()
        session.lint(str(path), changed)
        lint.append(time.perf_counter() - start)
    return _ms(statistics.median(parse)), _ms(statistics.median(lint))


def over_lsp(path: Path, text: str, edit: Edit, edits: int, helper: bool = True) -> tuple[list[float], float]:
    uri = path.as_uri()
    os.environ[HELPER_VARIABLE] = "1" if helper else "0"  # the server process reads it
    versions = [edit(text, n) for n in range(edits)]  # made before timing: an edit parses the text
    burst_versions = [edit(text, 100 + n) for n in range(5)]
    with LspClient([sys.executable, "-m", "dlsan", "server"], path.parent) as client:
        client.open(uri, text)
        client.diagnostics(uri, version=1)
        latencies = []
        version = 1
        for changed in versions:
            version += 1
            start = time.perf_counter()
            client.change(uri, changed, version)
            client.diagnostics(uri, version=version)
            latencies.append(time.perf_counter() - start)
        start = time.perf_counter()
        for changed in burst_versions:
            version += 1
            client.change(uri, changed, version)
        client.diagnostics(uri, version=version)
        burst = time.perf_counter() - start
    return [_ms(x) for x in latencies], _ms(burst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--file", type=Path, help="measure this file instead of the generated one")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        text = args.file.read_text(encoding="utf-8") if args.file else document(args.lines)
        path = Path(directory) / (args.file.name if args.file else "train_big.py")
        path.write_text(text, encoding="utf-8")
        for name, edit in EDITS.items():
            parse, lint = in_process(path, text, edit, repeat=3)
            latencies, burst = over_lsp(path, text, edit, args.edits)
            alone, _ = over_lsp(path, text, edit, args.edits, helper=False)
            rows.append((name, parse, lint, latencies, burst, alone))
    line_count = text.count("\n")
    print(f"document: {line_count} lines ({args.file or 'fixtures repeated'}); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'edit':>8} {'parse':>10} {'lint':>10} {'didChange':>12} {'max':>10} {'burst':>10} {'alone':>10}   target")
    for name, parse, lint, latencies, burst, alone in rows:
        median = statistics.median(latencies)
        print(f"{name:>8} {parse:>8.0f}ms {lint:>8.0f}ms {median:>10.0f}ms {max(latencies):>8.0f}ms "
              f"{burst:>8.0f}ms {statistics.median(alone):>8.0f}ms   "
              f"didChange < {TARGET_MS:.0f} ms: {'met' if median < TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
