"""``dead-relu``: layers most of whose units never fired over a window of training steps.

Two kinds of site are watched: the output of every ReLU module (and of user modules whose
``forward`` ends in ``F.relu``), and the *input* of every Linear and Conv layer, where a unit is
dead when it is exactly zero for every input: that covers activations written as functions
(``F.relu``, ``torch.relu``, ``F.relu6``, ``F.hardtanh``...), which no module hook sees.  Only
inputs that carry an autograd graph count (activations computed from parameters: the model's raw
input, one-hot features or padding are data, not units), and a layer's input is left alone when a
watched ReLU ran since the previous layer (the ReLU's own site counts those units, also through a
Flatten or a pooling), so one dead layer is one finding.  A ReLU followed by a Linear/Conv layer
in an ``nn.Sequential`` is watched at that layer's input, which is its output (the ReLU then has
no hook at all, and runs at the cost of a plain module), and reported as the ReLU.

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
from functools import cache
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from dlsan.runtime.findings import Finding
from dlsan.runtime.probe import Probe, check_positive_int, register_probe
from dlsan.runtime.series import Series

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import ProbeHost

_RELU_TYPES = (nn.ReLU, nn.ReLU6)
_CHANNEL_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)
_RELU_CALLS = frozenset({"relu", "relu_", "relu6"})
#: autograd nodes of a ReLU / ReLU6 output (ReLU6 is a hardtanh)
_RELU_NODES = frozenset({"ReluBackward0", "ReluBackward1", "HardtanhBackward0", "HardtanhBackward1"})
_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)
#: fewest observed training steps for judging an open (partial) window at the end of a run
_MIN_PARTIAL = 2


@register_probe
class DeadReluProbe(Probe):
    """Options: ``threshold`` (fraction of dead units that makes a finding, default 0.7),
    ``window`` (steps a unit has to fire in, default 20) and ``sample_every`` (observe the forward
    passes of one step in this many, default 2).  When the run ends mid-window, the open window is
    judged (a partial window) if at least two training steps were observed in it."""

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
        self._inputs: list[bool] = []  # per site: the input of a layer (else a ReLU's output)
        # per site: each unit's activity so far (largest ReLU output, or count of non-zero inputs)
        self._peak: list[torch.Tensor | None] = []
        self._relu_ran = False  # a watched ReLU ran since the last Linear/Conv input was seen
        self._observed = 0  # observed training steps in the open window
        self._seen_pass = False  # whether this step's forward passes were observed
        self._start = 1  # first step of the open window
        self._flushed = 0  # last step at which flush() judged the open window
        self.series = Series()

    def attach(self, sanitizer: ProbeHost) -> None:
        super().attach(sanitizer)
        named = sanitizer.named_modules()
        fed = _relus_feeding_layers(named)
        fed_layers = {id(layer) for layer in fed.values()}
        previous: nn.Module | None = None
        for name, module in named:
            if _is_relu(module) or _ends_in_relu(type(module)):  # type: ignore[arg-type]  # Module.__hash__ stub
                channel_first = isinstance(previous, _CHANNEL_FIRST)
                layer = fed.get(id(module))
                if layer is None:
                    sanitizer.register_forward_hook(module, self._hook(len(self._names), channel_first))
                else:  # seen as the layer's input: the ReLU itself stays without hooks
                    sanitizer.register_input_hook(layer, self._fed_hook(len(self._names), channel_first))
                self._names.append(name)
                self._inputs.append(False)
                self._peak.append(None)
            elif isinstance(module, _LAYERS) and id(module) not in fed_layers:
                channel_first = isinstance(module, nn.modules.conv._ConvNd)
                sanitizer.register_input_hook(module, self._input_hook(len(self._names), channel_first))
                self._names.append(name)
                self._inputs.append(True)
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
            ):
                return
            self._relu_ran = True
            self._fired(index, output, channel_first)

        return hook

    def _fed_hook(self, index: int, channel_first: bool) -> Any:
        """The ReLU's site, watched at the input of the layer it feeds (see
        :func:`_relus_feeding_layers`): the same tensor, one hook less on the ReLU."""

        def hook(module: nn.Module, args: tuple[Any, ...], output: Any = None) -> None:
            x = args[0] if args else None
            if (
                not self._observing
                or not torch.is_grad_enabled()
                or not isinstance(x, torch.Tensor)
                or x.dim() == 0
                or type(x.grad_fn).__name__ not in _RELU_NODES  # called with another input than the ReLU's
            ):
                return
            self._fired(index, x, channel_first)

        return hook

    def _fired(self, index: int, output: torch.Tensor, channel_first: bool) -> None:
        """Fold a ReLU output into site ``index``'s per-unit running maximum."""
        self._seen_pass = True
        out = output.detach()
        dims = _other_dims(out, channel_first)
        peak = out.amax(dim=dims) if dims else out.clone()
        seen = self._peak[index]
        if seen is None or seen.shape != peak.shape or seen.device != peak.device:
            self._peak[index] = peak
        else:
            torch.fmax(seen, peak, out=seen)

    def _input_hook(self, index: int, channel_first: bool) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any = None) -> None:
            x = args[0] if args else None
            if (
                not self._observing
                or not isinstance(x, torch.Tensor)
                or x.grad_fn is None  # data, not an activation computed from parameters
                or not torch.is_grad_enabled()
            ):
                return
            if self._relu_ran or x.dim() == 0:  # the ReLU's own site counts these units
                self._relu_ran = False
                return
            self._seen_pass = True
            dims = _other_dims(x, channel_first)
            count = torch.count_nonzero(x.detach(), dim=dims) if dims else x.detach().ne(0).long()
            seen = self._peak[index]
            if seen is None or seen.shape != count.shape or seen.device != count.device:
                self._peak[index] = count
            else:
                seen.add_(count)

        return hook

    def on_forward_end(self, fwd: Any) -> None:
        self._relu_ran = False

    def on_step_end(self, step: int) -> None:
        self._observed += self._seen_pass
        self._seen_pass = False
        self._observing = step % self.sample_every == 0
        if step - self._start + 1 >= self.window:
            self._judge(step)

    def flush(self) -> None:
        sanitizer = self.sanitizer
        if sanitizer is None or sanitizer.step == self._flushed:
            return
        if self._observed >= _MIN_PARTIAL:
            self._flushed = sanitizer.step  # judge an open window once per step, however often asked
            self._judge(sanitizer.step, close=False)

    def not_enough(self, seen: int) -> str | None:
        if self._observed >= _MIN_PARTIAL or seen >= self.window:
            return None
        return (
            f"dead units need {_MIN_PARTIAL} observed training steps (one step in {self.sample_every} "
            f"is observed); {self._observed} observed"
        )

    def _judge(self, step: int, close: bool = True) -> None:
        seen = [(i, peak) for i, peak in enumerate(self._peak) if peak is not None]
        start = self._start
        observed = self._observed
        if close:
            self._peak = [None] * len(self._peak)
            self._start = step + 1
            self._observed = 0
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
                self._report(index, dead, units, start, step, partial=0 if close else observed)
        if close:
            self.series.add(step, fractions)

    def _report(self, index: int, dead: float, units: int, start: int, end: int, partial: int) -> None:
        name = self._names[index]
        label = f"'{name}'" if name else "the model"
        if self._inputs[index]:
            what = (
                f"{dead:.0%} of the {units} input units of {label} were exactly zero for every input over steps "
                f"{start}-{end}: the activation before it (F.relu, ReLU6, hard-tanh...) never fires for them"
            )
        else:
            what = f"{dead:.0%} of the {units} units of ReLU {label} never fired over steps {start}-{end}"
        details: dict[str, Any] = {
            "fraction": dead, "units": units, "dead_units": round(dead * units), "window": [start, end],
            "site": "input" if self._inputs[index] else "output",
        }  # fmt: skip
        if partial:
            what += f" (a partial window: {partial} observed steps of {self.window})"
            details.update(partial=True, steps=partial)
        self.emit(
            Finding(
                "dead-relu",
                name,
                "forward",
                end,
                f"{what} (threshold {self.threshold:.0%}): their gradient is zero, so they never recover. "
                "Look for large negative biases, a too high learning rate or poor initialisation; "
                "LeakyReLU/GELU or a lower learning rate keep units alive",
                details,
            )
        )

    def summary(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "window": self.window, "dead_fraction": self.series.to_dict()}


def _other_dims(x: torch.Tensor, channel_first: bool) -> tuple[int, ...]:
    """Every dimension but the unit one: features on the last dim, or channels (dim 1) of
    conv-like tensors."""
    return _dims_around_unit(x.dim(), channel_first)


@cache
def _dims_around_unit(ndim: int, channel_first: bool) -> tuple[int, ...]:
    unit = 1 if ndim > 3 or (ndim == 3 and channel_first) else ndim - 1
    return tuple(d for d in range(ndim) if d != unit)


def _relus_feeding_layers(named: list[tuple[str, nn.Module]]) -> dict[int, nn.Module]:
    """``{id(ReLU): layer}`` for ``nn.ReLU`` modules followed by a Linear/Conv layer in an exact
    ``nn.Sequential``, each appearing once among its children: ``Sequential.forward`` hands the
    ReLU's output to that layer and nothing else, so the layer's input *is* the ReLU's output (the
    layer's hook also checks that its input came out of a ReLU: it may be called elsewhere too)."""
    children = [child for _, module in named if type(module) is nn.Sequential for child in module.children()]
    once = {id(child) for child in children if sum(other is child for other in children) == 1}
    found: dict[int, nn.Module] = {}
    for _, module in named:
        if type(module) is not nn.Sequential:
            continue
        sequence = list(module.children())
        for relu, layer in zip(sequence, sequence[1:]):
            if type(relu) in _RELU_TYPES and isinstance(layer, _LAYERS) and {id(relu), id(layer)} <= once:
                found[id(relu)] = layer
    return found


def _is_relu(module: nn.Module) -> bool:
    return isinstance(module, _RELU_TYPES) or (isinstance(module, nn.LeakyReLU) and module.negative_slope == 0)


@cache
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
