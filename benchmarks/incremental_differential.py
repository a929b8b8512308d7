"""The language server's incremental path against a fresh lint, over a corpus of real files.

    python benchmarks/incremental_differential.py [--corpus DIR] [--findings-every N] [--limit N]

For every ``.py`` file under --corpus (default: the shared corpus, ~/.cache/dlsan-dev-corpus/repos),
every version of :func:`dlsan.server.edits.edit_sequence` (code edits, inserted and deleted lines,
imports removed, syntax errors typed and fixed, decorators, truncation, CRLF) is parsed by one
:class:`IncrementalParser` that saw the versions before it, and compared with libcst's parse of the
whole text: the same tree (``deep_equals``), the same code, every node at the same position.  For
every --findings-every-th file the findings of a :class:`Session` (all rules selected) are also
compared with a fresh lint's, version by version.

Prints the counts (versions compared, reused, fallen back to the whole parse) and every mismatch;
exits 1 when there is one.  Slow (minutes): the same checks on the fixtures are in
tests/lint/test_incremental.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from dlsan.lint.api import prepare
from dlsan.lint.engine import decode_source
from dlsan.lint.incremental import IncrementalParser
from dlsan.lint.runner import Linter
from dlsan.server.edits import edit_sequence, parse_verdict
from dlsan.server.session import Session

CORPUS = Path.home() / ".cache" / "dlsan-dev-corpus" / "repos"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--findings-every", type=int, default=4)
    parser.add_argument("--limit", type=int, default=0, help="stop after this many files (0: all)")
    args = parser.parse_args()
    files = sorted(args.corpus.rglob("*.py"))[: args.limit or None]
    counts: Counter[str] = Counter()
    mismatches = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "pyproject.toml").write_text('[tool.dlsan]\nselect = ["ALL"]\n', encoding="utf-8")
        linter = Linter(prepare([root / "x.py"]).plan)
        for index, file in enumerate(files):
            if index and index % 50 == 0:
                print(f"... {index} files, {dict(counts)}, {mismatches} mismatches", flush=True)
            try:
                text = decode_source(file.read_bytes())
            except (OSError, UnicodeDecodeError):
                continue
            if not text.strip():
                continue
            incremental = IncrementalParser()
            session = Session() if index % args.findings_every == 0 else None
            path = root / file.name
            for label, version in edit_sequence(text):
                verdict = parse_verdict(incremental, version)
                counts[verdict.split(":")[0]] += 1
                if verdict.startswith("MISMATCH"):
                    mismatches += 1
                    print(f"{file} [{label}]: {verdict}", flush=True)
                if session is not None:
                    counts["findings compared"] += 1
                    fresh = linter.lint_content(str(path), version.encode("utf-8")).findings
                    if session.lint(str(path), version) != fresh:
                        mismatches += 1
                        print(f"{file} [{label}]: MISMATCH: findings", flush=True)
    print(f"{len(files)} files, {dict(counts)}, {mismatches} mismatches, {time.perf_counter() - start:.0f} s")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
