"""Language server latency: didChange -> publishDiagnostics on a 2,000-line file (target < 300 ms).

    python benchmarks/server_latency.py [--lines 2000] [--edits 10] [--file PATH]

Runs `dlsan server` in a subprocess and drives it over pipes as an editor does.  The document is
built from the repository's fixture files (realistic training code, dense in findings) repeated to
--lines lines, or is --file.  Prints side by side, in milliseconds:

  parse      one libcst parse of the text, in this process (the floor any re-lint pays)
  lint       one in-process lint of the text (what the server does per change)
  didChange  didChange -> publishDiagnostics of that version, one edit at a time (median, max)
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


def in_process(path: Path, text: str, repeat: int) -> tuple[float, float]:
    parse, lint = [], []
    session = Session()
    session.lint(str(path), text)  # imports and rule loading, once
    for n in range(repeat):
        start = time.perf_counter()
        cst.parse_module(text)
        parse.append(time.perf_counter() - start)
        changed = edited(text, n)  # what a change costs (unchanged text is answered from the last lint)
        start = time.perf_counter()
        session.lint(str(path), changed)
        lint.append(time.perf_counter() - start)
    return _ms(statistics.median(parse)), _ms(statistics.median(lint))


def edited(text: str, n: int) -> str:
    """``text`` with one line's comment changed, as typing does."""
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    lines[middle] = lines[middle].rstrip("\n") + f"  # edit {n}\n"
    return "".join(lines)


def over_lsp(path: Path, text: str, edits: int) -> tuple[list[float], float]:
    uri = path.as_uri()
    with LspClient([sys.executable, "-m", "dlsan", "server"], path.parent) as client:
        client.open(uri, text)
        client.diagnostics(uri, version=1)
        latencies = []
        version = 1
        for n in range(edits):
            version += 1
            start = time.perf_counter()
            client.change(uri, edited(text, n), version)
            client.diagnostics(uri, version=version)
            latencies.append(time.perf_counter() - start)
        start = time.perf_counter()
        for n in range(5):
            version += 1
            client.change(uri, edited(text, 100 + n), version)
        client.diagnostics(uri, version=version)
        burst = time.perf_counter() - start
    return [_ms(x) for x in latencies], _ms(burst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--file", type=Path, help="measure this file instead of the generated one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        text = args.file.read_text(encoding="utf-8") if args.file else document(args.lines)
        path = Path(directory) / (args.file.name if args.file else "train_big.py")
        path.write_text(text, encoding="utf-8")
        parse, lint = in_process(path, text, repeat=3)
        latencies, burst = over_lsp(path, text, args.edits)
    line_count = text.count("\n")
    print(f"document: {line_count} lines ({args.file or 'fixtures repeated'}); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'parse':>10} {'lint':>10} {'didChange':>12} {'max':>10} {'burst':>10}   target")
    print(f"{parse:>8.0f}ms {lint:>8.0f}ms {statistics.median(latencies):>10.0f}ms {max(latencies):>8.0f}ms "
          f"{burst:>8.0f}ms   didChange < {TARGET_MS:.0f} ms: "
          f"{'met' if statistics.median(latencies) < TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
