"""Lint throughput on the installed torch package's own sources, measured side by side.

    python benchmarks/lint_throughput.py [--repeat 3] [--dirs nn optim utils/data]
    python benchmarks/lint_throughput.py --paths ~/.cache/dlsan-dev-corpus/repos   # training code

Prints, for the same files in one run:
  floor      one libcst parse + one empty batched libcst walk per file, one process (the anchor)
  cold -j1   `dlsan check --select ALL --no-cache --jobs 1` (a subprocess: start-up included)
  cold -j2   the same with --jobs 2
  warm       `dlsan check --select ALL --jobs 1` again with a populated cache
  torchfix   `torchfix` on the same files, when it is installed
and the ratios the performance targets are stated in (cold-j1/floor <= 1.5 on torch's sources,
<= 2 on training-heavy code given with ``--paths``, where the prefilter skips little and the
semantic model is built for most files; j1/j2 >= 1.6, cold/warm >= 10), plus the peak RSS of one
cold `dlsan check` process.  Timings are the best of
--repeat runs (the machine may be shared; the minimum is the least disturbed run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import libcst as cst
from libcst._batched_visitor import BatchableCSTVisitor, visit_batched


def torch_dir() -> Path:
    """The torch package directory, found without importing torch."""
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        sys.exit("torch is not installed: pip install torch==2.13.0")
    return Path(spec.origin).parent


def python_files(dirs: list[Path]) -> list[Path]:
    return sorted(p for d in dirs for p in d.rglob("*.py"))


def count_lines(files: list[Path]) -> int:
    return sum(p.read_bytes().count(b"\n") for p in files)


def _parses(path: Path) -> bool:
    """Files the floor can parse (the corpus holds Python 2 and broken files: dlsan reports them)."""
    try:
        cst.parse_module(path.read_bytes().decode("utf-8"))
    except (cst.ParserSyntaxError, UnicodeDecodeError, RecursionError):
        return False
    return True


class _Empty(BatchableCSTVisitor):
    pass


def floor_seconds(files: list[Path]) -> float:
    start = time.perf_counter()
    for path in files:
        module = cst.parse_module(path.read_bytes().decode("utf-8"))
        visit_batched(module, [_Empty()])
    return time.perf_counter() - start


def run_seconds(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        sys.exit(f"{' '.join(command[:6])}... failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed


def peak_rss_mb(command: list[str], env: dict[str, str]) -> float:
    probe = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], capture_output=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, *command], env=env, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024


def best(fn, repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dirs", nargs="+", default=["nn", "optim", "utils/data"])
    parser.add_argument("--paths", nargs="+", type=Path, help="measure these directories instead of torch's")
    args = parser.parse_args()

    if args.paths:
        roots, target = list(args.paths), 2.0
    else:
        roots, target = [torch_dir() / d for d in args.dirs], 1.5
    files = [p for p in python_files(roots) if _parses(p)]
    lines = count_lines(files)
    print(f"sources: {len(files)} parsable files, {lines} lines under {', '.join(map(str, roots))}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    cache_dir = tempfile.mkdtemp(prefix="dlsan-bench-cache-")
    env = {**os.environ, "DLSAN_CACHE_DIR": cache_dir}
    dlsan = [sys.executable, "-m", "dlsan", "check", "--select", "ALL", "--exit-zero"]
    paths = [str(r) for r in roots]

    floor = best(lambda: floor_seconds(files), args.repeat)
    cold1 = best(lambda: run_seconds([*dlsan, "--no-cache", "--jobs", "1", *paths], env), args.repeat)
    cold2 = best(lambda: run_seconds([*dlsan, "--no-cache", "--jobs", "2", *paths], env), args.repeat)
    run_seconds([*dlsan, "--jobs", "1", *paths], env)  # populate the cache
    warm = best(lambda: run_seconds([*dlsan, "--jobs", "1", *paths], env), args.repeat)
    rss = peak_rss_mb([*dlsan, "--no-cache", "--jobs", "1", *paths], env)

    rows = [("floor (parse + empty walk)", floor), ("dlsan cold --jobs 1", cold1),
            ("dlsan cold --jobs 2", cold2), ("dlsan warm cache", warm)]
    try:
        torchfix = best(lambda: run_seconds(["torchfix", *paths], env), 1)
        rows.append(("torchfix", torchfix))
    except (FileNotFoundError, SystemExit):
        torchfix = None
    for label, seconds in rows:
        print(f"{label:<28} {seconds:8.2f} s  {lines / seconds:10,.0f} lines/s")
    print(f"cold -j1 / floor        {cold1 / floor:6.2f}x   (target <= {target})")
    print(f"cold -j1 / cold -j2     {cold1 / cold2:6.2f}x   (target >= 1.6)")
    print(f"cold -j1 / warm         {cold1 / warm:6.2f}x   (target >= 10)")
    if torchfix is not None:
        print(f"torchfix / cold -j1     {torchfix / cold1:6.2f}x")
    print(f"peak RSS cold -j1       {rss:6.0f} MB  (target < 300)")
    print(f"load average at end: {os.getloadavg()[0]:.2f} (ratios from a loaded machine understate -j2)")


if __name__ == "__main__":
    main()
