"""What ``Sanitizer.report()`` and ``Sanitizer.plot()`` show people.

The report is a table per finding kind, worst first (the most dead units, the smallest or largest
gradient ratio, the earliest NaN), so that the line to read first is on top; the full messages
follow.  The plot draws what the probes measured along the run: per-layer weight-gradient norms over
the steps, the gradient flowing back through the first and the last layer's output, and the fraction of
dead units per ReLU layer.  matplotlib is imported only here, only when plotting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlsan.runtime.findings import KINDS, Finding

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import Reported

Column = tuple[str, Callable[[Finding], str]]


def _module(f: Finding) -> str:
    return f.module or "<model>"


def _seen(f: Finding) -> str:
    return str(f.details.get("count", 1))


def _num(key: str, fmt: str = ".3g") -> Callable[[Finding], str]:
    def cell(f: Finding) -> str:
        value = f.details.get(key)
        return format(value, fmt) if isinstance(value, (int, float)) else "-"

    return cell


def _window(f: Finding) -> str:
    window = f.details.get("window")
    return f"{window[0]}-{window[1]}" if window else str(f.step)


#: per kind: the table's columns and the sort key (smallest first = worst first)
_TABLES: dict[str, tuple[list[Column], Callable[[Finding], Any]]] = {
    "dead-relu": (
        [("module", _module), ("dead", _num("fraction", ".0%")), ("units", _num("units", "d")), ("steps", _window)],
        lambda f: -f.details.get("fraction", 0),
    ),
    "vanishing-gradient": (
        [("first layer", _module), ("last layer", lambda f: f.details.get("last") or "<model>"),
         ("gradient", lambda f: f.details.get("gradient", "-")), ("ratio", _num("ratio")),
         ("first norm", _num("first_norm")), ("steps", _window)],
        lambda f: f.details.get("ratio", 0),
    ),
    "exploding-gradient": (
        [("first layer", _module), ("last layer", lambda f: f.details.get("last") or "-"),
         ("gradient", lambda f: f.details.get("gradient", "-")), ("ratio", _num("ratio")),
         ("norm", lambda f: _num("first_norm")(f) if "ratio" in f.details else _num("norm")(f)), ("steps", _window)],
        lambda f: -f.details.get("ratio", f.details.get("norm", 0)),
    ),
    "unused-parameter": (
        [("module", _module), ("parameters", lambda f: ", ".join(f.details.get("parameters", []))),
         ("since step", lambda f: str(f.step - f.details.get("steps", 1) + 1))],
        lambda f: -len(f.details.get("parameters", [])),
    ),
    "train-mode-in-eval": (
        [("module", _module), ("step", lambda f: str(f.step)), ("seen", _seen),
         ("in training mode", lambda f: ", ".join(f.details.get("types", [])))],
        lambda f: -f.details.get("count", 1),
    ),
    "ambiguous-broadcast": (
        [("module", lambda f: f.module or ("<loss>" if "in the loss" in f.message else "<model>")),
         ("op", lambda f: f.details.get("op", "-")),
         ("shapes", lambda f: " , ".join(str(tuple(s)) for s in f.details.get("shapes", []))),
         ("where", lambda f: f.details.get("where", "-"))],
        lambda f: f.step,
    ),
}
_DEFAULT: tuple[list[Column], Callable[[Finding], Any]] = (
    [("step", lambda f: str(f.step)), ("phase", lambda f: f.phase), ("module", _module), ("seen", _seen)],
    lambda f: f.step,
)


def format_report(sanitizer: Reported) -> str:
    findings = sanitizer.findings
    checks = ", ".join(probe.name for probe in sanitizer.probes) or "none"
    count = f"{len(findings) or 'no'} finding{'s' if len(findings) != 1 else ''}"
    steps = f"{sanitizer.step} step{'s' if sanitizer.step != 1 else ''}"
    lines = [f"dlsan: {count} in {steps} (checks: {checks})"]
    short = [(probe.name, probe.not_enough(sanitizer.step)) for probe in sanitizer.probes]
    if any(reason for _, reason in short):
        lines += ["", "not enough steps to judge:"]
        lines += [f"  {name}: {reason}" for name, reason in short if reason]
    by_kind: dict[str, list[Finding]] = {}
    for finding in findings:
        by_kind.setdefault(finding.kind, []).append(finding)
    order = sorted(by_kind, key=lambda kind: (KINDS.index(kind) if kind in KINDS else len(KINDS), kind))
    ordered: list[Finding] = []
    for kind in order:
        columns, key = _TABLES.get(kind, _DEFAULT)
        group = sorted(by_kind[kind], key=key)
        ordered.extend(group)
        lines += ["", f"{kind} ({len(group)})", *_table(columns, group)]
    if ordered:
        lines += ["", "details:"]
    for finding in ordered:
        count = finding.details.get("count", 1)
        repeat = f" (seen {count} times, last at step {finding.details.get('last_step')})" if count > 1 else ""
        lines.append(f"[{finding.kind}] step {finding.step} {finding.phase} {_module(finding)}{repeat}")
        lines.extend("    " + line for line in finding.message.splitlines())
    return "\n".join(lines)


def _table(columns: Sequence[Column], rows: Sequence[Finding]) -> list[str]:
    cells = [[title for title, _ in columns]] + [[cell(f) for _, cell in columns] for f in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return ["  " + "  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip() for row in cells]


def plot(sanitizer: Reported, path: str | Path) -> Path:
    """Gradient norms per layer over steps (one panel per kind of norm) and dead-unit fractions."""
    try:
        from matplotlib.figure import Figure  # no pyplot: leaves the user's backend and figures alone
    except ImportError as error:
        raise ImportError("san.plot() needs matplotlib: pip install 'dlsan[plot]' (or matplotlib)") from error
    probes = sanitizer.to_dict()["probes"]
    norms = probes.get("gradients", {}).get("norms", {})
    dead = probes.get("dead-relu", {})
    panels = [(kind, norms[kind]) for kind in ("weight", "output") if norms.get(kind, {}).get("steps")]
    count = len(panels) + 1
    figure = Figure(figsize=(9, 3.2 * count))
    axes = figure.subplots(count, 1, squeeze=False)
    for ax, (kind, series) in zip(axes[:, 0], panels):
        title = "weight gradient norm per layer" if kind == "weight" else "gradient norm at the output of the first and the last layer"
        _lines(ax, series, title, log=True)
    ax = axes[-1, 0]
    series = dead.get("dead_fraction", {})
    if series.get("steps"):
        layers = series["layers"]
        latest = [next((v for v in reversed(values) if v is not None), 0.0) for values in layers.values()]
        worst = [max((v for v in values if v is not None), default=0.0) for values in layers.values()]
        positions = range(len(layers))
        ax.bar([p - 0.2 for p in positions], worst, width=0.4, label="worst window")
        ax.bar([p + 0.2 for p in positions], latest, width=0.4, label="last window")
        ax.axhline(dead.get("threshold", 0.7), color="red", linestyle="--", linewidth=1, label="threshold")
        ax.set_xticks(list(positions), list(layers), rotation=45, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no ReLU windows judged yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("fraction of dead units per ReLU layer")
    figure.suptitle(f"dlsan: {sanitizer.step} steps, {len(sanitizer.findings)} findings")
    figure.tight_layout()
    target = Path(path)
    figure.savefig(target, dpi=100, format="png")
    return target


def _lines(ax: Any, series: dict[str, Any], title: str, *, log: bool) -> None:
    steps = series["steps"]
    positive = [v for values in series["layers"].values() for v in values if v is not None and v > 0]
    # a log axis cannot show 0, the very value of a gradient that vanished: draw it at a floor
    floor = min(positive, default=1.0) / 10
    zeros = False
    for index, (layer, values) in enumerate(series["layers"].items()):
        points = [(s, v if v > 0 else floor) for s, v in zip(steps, values) if v is not None]
        zeros = zeros or any(v == 0 for v in values)
        if points:
            color = _color(index, len(series["layers"]))
            ax.plot([s for s, _ in points], [v for _, v in points], label=layer, color=color, linewidth=1)
    if log:
        ax.set_yscale("log")
    if zeros:
        title += f" (exact zeros drawn at {floor:.2g})"
    ax.set_title(title)
    ax.set_xlabel("step")
    if len(series["layers"]) <= 12:
        ax.legend(fontsize=7, loc="best")


def _color(index: int, count: int) -> Any:
    """Input layers blue, output layers yellow: the order of the layers reads off the colour."""
    import matplotlib

    return matplotlib.colormaps["viridis"](index / max(1, count - 1))
