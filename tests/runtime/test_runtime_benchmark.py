"""The overhead benchmark script keeps working (a few steps; the figures themselves are not tested)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "runtime_overhead.py"


def test_benchmark_runs_one_case_quickly():
    spec = importlib.util.spec_from_file_location("dlsan_runtime_overhead", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up
    try:
        spec.loader.exec_module(bench)
        result = bench.run_case(bench.CASES[0], reps=3, warmup=1)
    finally:
        del sys.modules[spec.name]
    assert set(result) >= {"plain_ms", "core_ratio", "all_ratio", "anomaly_ratio", "eval_plain_ms", "eval_ratio"}
    assert result["core_ms"] > 0 and result["eval_ms"] > 0


@contextmanager
def breakdown_script() -> Iterator[Any]:
    """benchmarks/runtime_breakdown.py loaded as a module (and the runtime_overhead module it
    imports unloaded afterwards)."""
    spec = importlib.util.spec_from_file_location("dlsan_runtime_breakdown", SCRIPT.with_name("runtime_breakdown.py"))
    assert spec is not None and spec.loader is not None
    breakdown = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = breakdown
    try:
        spec.loader.exec_module(breakdown)
        yield breakdown
    finally:
        del sys.modules[spec.name]
        sys.modules.pop("runtime_overhead", None)


def test_breakdown_prints_every_variant(capsys):
    with breakdown_script() as breakdown:
        assert breakdown.main(["--case", "smaller MLP", "--reps", "2", "--inner", "1"]) == 0
        names = list(breakdown.variants())
    rows = [line.split("  ")[0].strip() for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows == ["plain (again)", *names]


def test_breakdown_phases_prints_every_phase(capsys):
    with breakdown_script() as breakdown:
        assert breakdown.main(["--case", "smaller MLP", "--reps", "2", "--phases"]) == 0
        phases = list(breakdown.PHASES)
    lines = capsys.readouterr().out.splitlines()
    rows = [line[:20].strip() for line in lines[2:]]
    assert rows == [*phases, "forward, repeated"]
    for line in lines[2:]:
        plain, *added = (float(field) for field in line[20:].split())
        assert plain > 0 and len(added) == 2
