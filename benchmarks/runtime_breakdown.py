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
    python benchmarks/runtime_breakdown.py --phases          # per phase of the step, see below

``--phases`` times each phase of the step (zero_grad, forward, loss, backward, optimizer step) of
a plain copy, a core-only copy and an all-probes copy, and then the forward pass alone, run again
and again with nothing between (``forward, repeated``).  The instrumented forward pass costs more
over the plain one inside a training step than repeated on its own: measured here with the core
checks, +67 to +70 us against +43 to +62 on the smaller MLP, +171 against +72 on the tiny one.
Between two forward passes of a step the backward pass and Adam's update run, and the hooks' code
and the activations their reductions read are no longer in the CPU's caches.  So a
microbenchmark of one hook or one reduction in a loop understates its cost in a step (a ``torch``
reduction of a small tensor: about 2 us in a loop, 4 to 6 us inside a step), and only figures taken
inside whole steps, like the rows above, tell what a change saves.
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
    parser.add_argument("--phases", action="store_true", help="time each phase of the step (see the module docs)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    case = next(case for case in overhead.CASES if case.name == args.case)
    model, batch = case.build()
    if args.phases:
        print_phases(case.name, model, batch, args.reps)
        return 0
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


PHASES = ("zero_grad", "forward", "loss", "backward", "optimizer step")


def phase_timer(
    model: torch.nn.Module, batch: overhead.Batch, kwargs: dict[str, Any] | None
) -> tuple[Callable[[], list[float]], Sanitizer | None]:
    """A training step of a copy of ``model`` (instrumented with ``kwargs``, plain for ``None``)
    that returns the thread CPU time of each of its :data:`PHASES`, and the sanitizer."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    san = None if kwargs is None else dlsan.instrument(model, optimizer=optimizer, **kwargs)
    inputs, targets = batch

    def step() -> list[float]:
        clock = time.thread_time
        marks = [clock()]
        optimizer.zero_grad(set_to_none=True)
        marks.append(clock())
        out = model(inputs)
        marks.append(clock())
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), targets.reshape(-1))
        marks.append(clock())
        loss.backward()  # type: ignore[no-untyped-call, unused-ignore]
        marks.append(clock())
        optimizer.step()
        marks.append(clock())
        return [b - a for a, b in zip(marks, marks[1:])]

    step.model = model  # type: ignore[attr-defined]
    return step, san


def print_phases(name: str, model: torch.nn.Module, batch: overhead.Batch, reps: int) -> None:
    """Per phase, the median time of the plain copy and what the core-only and the all-probes
    copies add to it, in whole steps (rotating order) and then in forward passes alone."""
    configs: dict[str, dict[str, Any] | None] = {"plain": None, "core": {"checks": ["nonfinite", "shape"]}, "all": {}}
    timers = {label: phase_timer(model, batch, kwargs) for label, kwargs in configs.items()}
    labels = list(timers)
    phases: dict[str, list[list[float]]] = {label: [] for label in labels}
    alone: dict[str, list[float]] = {label: [] for label in labels}
    for _ in range(10):
        for step, _ in timers.values():
            step()
    for rep in range(reps):
        shift = rep % len(labels)
        for label in labels[shift:] + labels[:shift]:
            phases[label].append(timers[label][0]())
    inputs = batch[0]
    for rep in range(reps):
        shift = rep % len(labels)
        for label in labels[shift:] + labels[:shift]:
            forward = timers[label][0].model  # type: ignore[attr-defined]
            start = time.thread_time()
            forward(inputs)
            alone[label].append(time.thread_time() - start)
    for _, san in timers.values():
        if san is not None:
            san.remove()
    medians = {label: [statistics.median(column) * 1e6 for column in zip(*rows)] for label, rows in phases.items()}
    forward_alone = {label: statistics.median(times) * 1e6 for label, times in alone.items()}
    print(f"{name}: median us per phase; core and all as us over plain")
    print(f"{'phase':<20} {'plain':>8} {'core +':>8} {'all +':>8}")
    rows = [*zip(PHASES, *(medians[label] for label in labels)), ("forward, repeated", *forward_alone.values())]
    for phase, plain, core, every in rows:
        print(f"{phase:<20} {plain:8.1f} {core - plain:8.1f} {every - plain:8.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
