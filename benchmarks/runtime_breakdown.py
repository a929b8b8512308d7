"""Where dlsan's per-step time goes: each piece of ``dlsan.instrument`` switched off in turn.

Every variant is its own copy of the model with its own sanitizer, timed exactly as
``runtime_overhead.py`` times its variants (rotating order, CPU time of one thread, the fastest of
``--inner`` steps per repetition, median of the ratios paired with the plain step next to it).
Each copy keeps its own step counter, so all of them see the same mix of sampled and unsampled
steps: switching a piece off within one sanitizer between repetitions would not (the dead-relu
probe samples one step in 2, the gradient probe one in 4, and the fastest of three steps is an
unsampled one more often in some repetitions than in others, which reads as a saving of tens of
microseconds that no code change made).

Copies of one model differ by themselves: where each copy's weights lie in memory changes its
matmuls' speed by up to about 2% (``plain (again)``, a second plain copy, shows it), a few tens of
microseconds on the smaller MLP, and ``all (again)``, a second copy of ``all``, shows the same
floor for the instrumented rows: a piece that saves less than that cannot be told apart here (nor
in ``runtime_overhead.py``, whose ratios move by as much from one run to the next).  Run::

    python benchmarks/runtime_breakdown.py                   # the smaller MLP, about a minute
    python benchmarks/runtime_breakdown.py --case "tiny MLP"
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runtime_overhead as overhead  # noqa: E402

import dlsan  # noqa: E402
from dlsan.runtime import Sanitizer  # noqa: E402
from dlsan.runtime.probe import probe_classes  # noqa: E402


def _no_gradient_checks(san: Sanitizer) -> None:
    # an instance attribute shadows the method the recorder calls for each checked gradient
    san.recorder._hook_gradient = lambda fwd, tensor, slot: None  # type: ignore[method-assign]


def _no_escape_check(san: Sanitizer) -> None:
    san.recorder._read_escapes = lambda fwd: None  # type: ignore[method-assign]


def variants() -> dict[str, tuple[dict[str, Any], Callable[[Sanitizer], None] | None]]:
    """name -> (``instrument()`` arguments, what to switch off in the sanitizer afterwards)."""
    default = sorted(name for name, cls in probe_classes().items() if cls.default)
    found: dict[str, tuple[dict[str, Any], Callable[[Sanitizer], None] | None]] = {
        "all": ({}, None),
        "all (again)": ({}, None),
        "- replay inputs": ({"replay": False}, None),
        "- gradient checks": ({}, _no_gradient_checks),
        "- -inf output check": ({}, _no_escape_check),
    }
    for name in default:
        if name not in ("nonfinite", "shape"):
            found[f"- {name}"] = ({"checks": [other for other in default if other != name]}, None)
    found["core only"] = ({"checks": ["nonfinite", "shape"]}, None)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", default="smaller MLP", choices=[case.name for case in overhead.CASES])
    parser.add_argument("--reps", type=int, default=300, help="repetitions (default 300)")
    parser.add_argument("--inner", type=int, default=3, help="steps per variant per repetition (default 3)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    case = next(case for case in overhead.CASES if case.name == args.case)
    model, batch = case.build()
    steps = {"plain": overhead.make_step(copy.deepcopy(model), batch, anomaly=False)}
    steps["plain (again)"] = overhead.make_step(copy.deepcopy(model), batch, anomaly=False)
    sanitizers = []
    for name, (kwargs, switch_off) in variants().items():
        step = steps[name] = overhead.make_step(copy.deepcopy(model), batch, anomaly=False)
        san = dlsan.instrument(step.model, optimizer=step.optimizer, **kwargs)  # type: ignore[attr-defined]
        if switch_off is not None:
            switch_off(san)
        sanitizers.append(san)
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(10):
        for step in steps.values():
            step()
    for rep in range(args.reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            best = float("inf")
            for _ in range(args.inner):
                start = time.thread_time()
                steps[name]()
                best = min(best, time.thread_time() - start)
            times[name].append(best)
    for san in sanitizers:
        san.remove()
    plain = times["plain"]
    print(f"{case.name}: plain step {statistics.median(plain) * 1e3:.3f} ms; each row is a copy of the model")
    print(f"{'variant':<26} {'x plain':>8} {'us over plain':>14} {'us vs all':>10}")
    for name in names[1:]:
        ratio = statistics.median(t / p for t, p in zip(times[name], plain))
        over = statistics.median(t - p for t, p in zip(times[name], plain)) * 1e6
        versus = statistics.median(t - a for t, a in zip(times[name], times["all"])) * 1e6
        print(f"{name:<26} {ratio:8.3f} {over:14.1f} {versus:10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
