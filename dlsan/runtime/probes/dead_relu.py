"""``dead-relu``: ReLU layers most of whose units never fired over a window of training steps.

A unit (a feature, or a channel of a conv output) whose pre-activation is negative for every
input gets no gradient, so nothing moves it back: it is dead for good, and a layer that is mostly
dead has lost its capacity.  The threshold follows AUTOTRAINER (Zhang et al., ICSE 2021), which
calls a network's ReLUs dying when 70% of them are inactive.

Cost: per ReLU call, one ``amax`` over every dimension but the unit one, folded into a running
per-unit maximum kept on the device (``fmax``, in place): no per-element counts and no host
synchronisation.  A unit fired when its maximum is above 0.  The maxima are read once per window
(``window`` steps), when the fraction of units that never fired is judged, then cleared.  Only the
forward passes of every ``sample_every``-th step are looked at (default 2): that halves the cost,
and a unit that is alive fires on most batches, so half of a window's batches still show it.
Only training passes count (grad enabled): a unit that fires on validation data but never on the
training data still learns nothing, and inference pays nothing for the probe.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from functools import lru_cache
from typing import Any, TYPE_CHECKING

import torch
from torch import nn

from dlsan.runtime.compat import is_compiling
from dlsan.runtime.findings import Finding
from dlsan.runtime.probe import Probe, check_positive_int, register_probe
from dlsan.runtime.series import Series

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import ProbeHost

_RELU_TYPES = (nn.ReLU, nn.ReLU6)
_CHANNEL_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)
_RELU_CALLS = frozenset({"relu", "relu_", "relu6"})


@register_probe
class DeadReluProbe(Probe):
    """Options: ``threshold`` (fraction of dead units that makes a finding, default 0.7),
    ``window`` (steps a unit has to fire in, default 20) and ``sample_every`` (observe the forward
    passes of one step in this many, default 2).  When the run ends mid-window, the open window is
    judged if it spans at least a quarter of ``window``."""

    name = "dead-relu"
    kinds = ("dead-relu",)

    def __init__(self, threshold: float = 0.7, window: int = 20, sample_every: int = 2) -> None:
        super().__init__()
        if not 0 < threshold <= 1:
            raise ValueError(f"dead-relu: threshold must be in (0, 1], not {threshold!r}")
        check_positive_int(window, "dead-relu: window")
        check_positive_int(sample_every, "dead-relu: sample_every")
        self.threshold = threshold
        self.window = window
        self.sample_every = sample_every
        self._observing = True  # whether this step's forward passes are sampled (step 0 is)
        self._names: list[str] = []
        self._peak: list[torch.Tensor | None] = []  # per ReLU: each unit's largest output so far
        self._start = 1  # first step of the open window
        self._flushed = 0  # last step at which flush() judged the open window
        self.series = Series()

    def attach(self, sanitizer: ProbeHost) -> None:
        super().attach(sanitizer)
        previous: nn.Module | None = None
        for name, module in sanitizer.named_modules():
            if _is_relu(module) or _ends_in_relu(type(module)):
                channel_first = isinstance(previous, _CHANNEL_FIRST)
                sanitizer.register_forward_hook(module, self._hook(len(self._names), channel_first))
                self._names.append(name)
                self._peak.append(None)
            if any(True for _ in module.parameters(recurse=False)):
                previous = module

    def detach(self) -> None:
        self._peak = [None] * len(self._peak)
        super().detach()

    def _hook(self, index: int, channel_first: bool) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if (
                not self._observing
                or not torch.is_grad_enabled()  # evaluation and inference passes are not training
                or not isinstance(output, torch.Tensor)
                or output.dim() == 0
                or is_compiling()
            ):
                return
            out = output.detach()
            # units: features on the last dim, or channels (dim 1) of conv-like outputs
            unit = 1 if out.dim() > 3 or (out.dim() == 3 and channel_first) else out.dim() - 1
            dims = tuple(d for d in range(out.dim()) if d != unit)
            peak = out.amax(dim=dims) if dims else out.clone()
            seen = self._peak[index]
            if seen is None or seen.shape != peak.shape or seen.device != peak.device:
                self._peak[index] = peak
            else:
                torch.fmax(seen, peak, out=seen)

        return hook

    def on_step_end(self, step: int) -> None:
        self._observing = step % self.sample_every == 0
        if step - self._start + 1 >= self.window:
            self._judge(step)

    def flush(self) -> None:
        sanitizer = self.sanitizer
        if sanitizer is None or sanitizer.step == self._flushed:
            return
        if sanitizer.step - self._start + 1 >= max(1, self.window // 4):
            self._flushed = sanitizer.step  # judge an open window once per step, however often asked
            self._judge(sanitizer.step, close=False)

    def _judge(self, step: int, close: bool = True) -> None:
        seen = [(i, peak) for i, peak in enumerate(self._peak) if peak is not None]
        start = self._start
        if close:
            self._peak = [None] * len(self._peak)
            self._start = step + 1
        if not seen:
            return
        try:
            alive = torch.stack([(peak > 0).sum() for _, peak in seen]).tolist()  # the one host read
        except RuntimeError:  # vectors on several devices
            alive = [int((peak > 0).sum()) for _, peak in seen]
        fractions = {}
        sanitizer = self.sanitizer
        for (index, peak), count in zip(seen, alive):
            units = peak.numel()
            dead = 1 - count / units
            name = self._names[index]
            fractions[name] = dead
            if sanitizer is not None:
                sanitizer.log_scalar(f"dead_fraction/{name or 'model'}", dead, step)
            if dead >= self.threshold:
                self._report(name, dead, units, start, step)
        if close:
            self.series.add(step, fractions)

    def _report(self, name: str, dead: float, units: int, start: int, end: int) -> None:
        label = f"'{name}'" if name else "the model"
        self.emit(
            Finding(
                "dead-relu",
                name,
                "forward",
                end,
                f"{dead:.0%} of the {units} units of ReLU {label} never fired over steps {start}-{end} "
                f"(threshold {self.threshold:.0%}): their gradient is zero, so they never recover. "
                "Look for large negative biases, a too high learning rate or poor initialisation; "
                "LeakyReLU/GELU or a lower learning rate keep units alive",
                {"fraction": dead, "units": units, "dead_units": round(dead * units), "window": [start, end]},
            )
        )

    def summary(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "window": self.window, "dead_fraction": self.series.to_dict()}


def _is_relu(module: nn.Module) -> bool:
    return isinstance(module, _RELU_TYPES) or (isinstance(module, nn.LeakyReLU) and module.negative_slope == 0)


@lru_cache(maxsize=None)
def _ends_in_relu(cls: type[nn.Module]) -> bool:
    """A user module whose ``forward`` returns ``F.relu(...)`` / ``torch.relu(...)`` / ``x.relu()``
    on every path: its output is a ReLU output too.  Decided from the source; unknown means no."""
    forward = cls.__dict__.get("forward")
    if forward is None or cls.__module__.startswith("torch."):
        return False
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(forward)))
    except (OSError, TypeError, SyntaxError):
        return False
    function = tree.body[0] if tree.body else None
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    returns = [node for node in _own_nodes(function) if isinstance(node, ast.Return)]
    return bool(returns) and all(_is_relu_call(node.value) for node in returns)


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """Nodes of ``function`` outside nested functions and classes."""
    found, stack = [], list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _is_relu_call(node: ast.expr | None) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute):
        # ``self.relu(x)`` calls a sub-module, which is watched on its own
        own = isinstance(func.value, ast.Name) and func.value.id == "self"
        return not own and func.attr in _RELU_CALLS
    return isinstance(func, ast.Name) and func.id in _RELU_CALLS
