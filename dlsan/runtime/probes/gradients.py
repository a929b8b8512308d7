"""``vanishing-gradient`` / ``exploding-gradient``: how the gradient changes from the output layers
back to the input layers, sustained over several steps.

Two per-layer gradient norms are kept each step, for every module with trainable parameters
("layer"), ordered by when the layer first ran in the forward pass:

* the **weight** gradient norm (all of the layer's own parameters, one ``torch._foreach_norm``
  pass over the model), what AUTOTRAINER (Zhang et al., ICSE 2021) compares;
* the **output** gradient norm, the gradient that flows back through the layer's output, for the
  first and the last layer: a pre-hook on the autograd node of those two layers' outputs, one
  ``vector_norm`` each (not the core's gradient observers, which would make the core hook every
  tensor again, where it now skips the ones whose gradient cannot be the first bad one; nor every
  layer, which would cost as much again as the core's own sums).  Weight gradients miss
  a deep linear stack whose weights are 3x too large: the gradient that reaches the first layer is
  3**depth times larger, but that layer's input is as many times smaller, so the weight-gradient
  ratio between first and last layer stays near 1.

With ``first`` the layer nearest the input and ``last`` the one nearest the output, a step is

* *vanishing* when ``norm(first) / norm(last) < vanishing_ratio`` (1e-3) and
  ``norm(first) < vanishing_norm`` (1e-4), for the weight or the output gradients (AUTOTRAINER's
  ``beta_1`` and ``beta_2``): the input layers learn a thousand times slower and barely at all;
* *exploding* when ``norm(first) / norm(last) > exploding_ratio`` (70, AUTOTRAINER's ``beta_3``),
  or any layer's norm exceeds ``exploding_norm`` (off by default: the absolute scale of gradients
  depends on the loss and its reduction, so no single number fits every model);
* *exploding* at once, without waiting for a window, when a norm overflows float32 (the norms are
  computed in float64, so they can tell): the user's ``clip_grad_norm_`` sees ``inf``, although
  every element is finite, which the ``nonfinite`` check cannot see.

The first sampled step (step 1) is also judged on its own, with far stricter thresholds: a ratio
below ``init_vanishing_ratio`` (1e-6) or above ``init_exploding_ratio`` (1e4), or a norm that
overflowed to +inf, is a finding "at initialisation" (``details["origin"] == "initialisation"``)
at once: a 16-layer sigmoid stack, or linear layers that each triple the signal, are visible
from the first backward pass, and people debug with a few steps.  When the run ends (``flush``:
``report()``, ``remove()``) inside a window, a verdict that held on every sampled step so far, at
least two of them, is reported as a partial window (``details["partial"]``, with the number of
steps it covered).  A layer whose gradient is exactly zero is not vanishing: its units are dead or
its output unused, which the ``dead-relu`` and ``unused-parameter`` checks report, unless the
gradient fades there (some layer's norm is tiny but not zero: it underflowed on its way back).

The norms are taken on every ``sample_every``-th step (default 4: steps 1, 5, 9, ...): a trend
that matters lasts hundreds of steps, so a sample sees it as well as every step would, at a
quarter of the cost.  A finding needs ``window`` consecutive *sampled* steps of the same verdict
(default 5, so 17 steps at the default sampling), so one noisy batch does not alarm.  A sampled
step with a non-finite norm counts for neither (the ``nonfinite`` check reports it) and breaks
the run, as does any step the loss scaler skipped.  A non-finite norm (a non-finite element) is the
``nonfinite`` check's.

Cost, on a sampled step: one ``_foreach_norm`` and one ``stack``, one ``vector_norm`` per output of
the two end layers, one ``stack`` per backward pass and one ``cat``; on the other steps nothing but
one early return per end layer's call.  The norms stay on the device and are read once every
``window`` sampled steps (or every ``every`` steps when that is larger), one host synchronisation,
and summed per layer on the host.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator
from functools import partial
from itertools import chain, repeat
from operator import attrgetter, is_
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from dlsan.runtime.compat import (
    eager_only,
    foreach_norm_float64,
    in_backward,
    in_compiled_module,
    local_tensor,
)
from dlsan.runtime.findings import Finding
from dlsan.runtime.probe import Probe, check_positive_int, register_probe
from dlsan.runtime.series import Series
from dlsan.runtime.structure import tensors_in
from dlsan.runtime.tape import BackwardWindow, ForwardPass

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import ProbeHost

_KINDS = ("weight", "output")
_GRAD = attrgetter("grad")
_UNRANKED: Any = object()
_REQUIRES_GRAD = attrgetter("requires_grad")
_FLOAT32_MAX = float(torch.finfo(torch.float32).max)


@register_probe
class GradientProbe(Probe):
    """Options: ``vanishing_ratio`` (1e-3), ``vanishing_norm`` (1e-4), ``exploding_ratio`` (70),
    ``exploding_norm`` (None: off), ``window`` (5 consecutive sampled steps), ``sample_every``
    (4: the norms of every 4th step), ``init_vanishing_ratio`` (1e-6) and ``init_exploding_ratio``
    (1e4) for the first step; see the module docs."""

    name = "gradients"
    kinds = ("vanishing-gradient", "exploding-gradient")

    def __init__(
        self,
        vanishing_ratio: float = 1e-3,
        vanishing_norm: float = 1e-4,
        exploding_ratio: float = 70.0,
        exploding_norm: float | None = None,
        window: int = 5,
        sample_every: int = 4,
        init_vanishing_ratio: float = 1e-6,
        init_exploding_ratio: float = 1e4,
    ) -> None:
        super().__init__()
        check_positive_int(window, "gradients: window")
        check_positive_int(sample_every, "gradients: sample_every")
        self.vanishing_ratio = vanishing_ratio
        self.vanishing_norm = vanishing_norm
        self.exploding_ratio = exploding_ratio
        self.exploding_norm = exploding_norm
        self.window = window
        self.sample_every = sample_every
        self.init_vanishing_ratio = init_vanishing_ratio
        self.init_exploding_ratio = init_exploding_ratio
        self._initial_done = False  # whether the first sampled step was judged on its own
        self._judged = 0  # sampled steps judged since the run began or was last broken
        self._partial: set[tuple[str, int]] = set()  # (kind, first step) of partial windows reported
        self._sampling = True  # whether the step under way is sampled (step 1 is)
        self._layer_names: list[str] = []
        self._layer_of: dict[int, int] = {}  # core module index -> layer position
        self._unranked: set[int] = set()  # core module indexes of layers not seen running yet
        self._param_tensors: list[nn.Parameter] = []  # every layer's own parameters
        self._param_layers: list[int] = []  # the layer of each
        self._order: dict[int, int] = {}  # layer position -> rank in forward execution order
        self._ends: dict[tuple[int, ...], tuple[int, int] | None] = {}  # _first_last's answers
        self._watched: set[int] | None = None  # the layers first and last in execution order
        self._hooks: list[Any] = []  # per layer: its output hook's handle, None once removed
        # this backward pass, on the device: output-gradient norms and the layers they belong to
        # (one pair per append, so a norm and its layer can never be split by another thread's
        # backward pass running at the same moment)
        self._out: list[tuple[torch.Tensor, int]] = []
        self._passes: list[tuple[torch.Tensor, list[int]]] = []  # this step's backward passes
        self._skipped = False
        # steps waiting to be read: (step, device row of norms or None for a skipped step, the
        # layer of each weight-gradient norm, the layer of each output-gradient norm)
        self._pending: list[tuple[int, torch.Tensor | None, list[int], list[int]]] = []
        self._streak = {"vanishing-gradient": 0, "exploding-gradient": 0}
        self._since = {"vanishing-gradient": 0, "exploding-gradient": 0}  # first step of each run
        self._last: dict[str, tuple[int, dict[str, Any]]] = {}  # latest verdict of each kind
        self.series = {kind: Series() for kind in _KINDS}

    def attach(self, sanitizer: ProbeHost) -> None:
        super().attach(sanitizer)
        for index, (name, module) in enumerate(sanitizer.named_modules()):
            params = [p for p in module.parameters(recurse=False)]
            if params:
                self._layer_of[index] = len(self._layer_names)
                self._unranked.add(index)
                self._param_tensors.extend(params)
                self._param_layers.extend([len(self._layer_names)] * len(params))
                self._hooks.append(sanitizer.register_forward_hook(module, self._output_hook(len(self._layer_names))))
                self._layer_names.append(name)

    def detach(self) -> None:
        self._out, self._passes, self._pending = [], [], []
        super().detach()

    # -- hot path --------------------------------------------------------------------------------

    def on_forward_end(self, fwd: ForwardPass) -> None:
        # a layer that never runs (MultiheadAttention's out_proj, used only through its weight)
        # stays unranked: the set test keeps that from costing a loop over the calls every pass
        if not fwd.grad_enabled or self._unranked.isdisjoint(fwd.call_module):
            return
        for module in fwd.call_module:
            layer = self._layer_of.get(module)
            if layer is not None and layer not in self._order:
                self._order[layer] = len(self._order)
                self._unranked.discard(module)
        self._watched = {min(self._order, key=self._order.__getitem__), max(self._order, key=self._order.__getitem__)}
        self._unhook_middle()

    def _unhook_middle(self) -> None:
        """Remove the output hooks of layers ranked between the two ends: ranks are given in order
        of first appearance, so the first layer stays first and only a layer not seen yet can become
        the last; a ranked layer that is not an end now never will be, and its hook would only cost
        a Python call per forward pass.  Kept, inert, inside a compiled model (see
        :func:`~dlsan.runtime.compat.in_compiled_module`)."""
        assert self._watched is not None
        if in_compiled_module():
            return
        for layer in self._order:
            handle = self._hooks[layer]
            if handle is not None and layer not in self._watched:
                handle.remove()
                self._hooks[layer] = None

    def _output_hook(self, layer: int) -> Any:
        """Every layer's output is hooked in the first pass (the ends of the execution order are
        known only at its end); from then on only those of the two ends."""
        probe_ref = weakref.ref(self)

        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            probe = probe_ref()
            if probe is None or not probe._sampling or not torch.is_grad_enabled() or in_backward():
                return  # in backward: activation checkpointing recomputing the forward pass
            if probe._watched is not None and layer not in probe._watched:
                return
            found = [output] if isinstance(output, torch.Tensor) else [t for _, t in tensors_in(output)]
            for tensor in found:
                node = tensor.grad_fn
                if node is not None and tensor.is_floating_point():
                    node.register_prehook(partial(_on_gradient, probe_ref, layer, tensor.output_nr))

        return hook

    def _observe(self, layer: int, grad: torch.Tensor) -> None:
        if grad.layout is torch.strided and not grad.is_nested:
            # in float64: no finite float32 gradient overflows it (see _overflowed)
            self._out.append((torch.linalg.vector_norm(grad.detach(), dtype=torch.float64), layer))

    def on_backward_end(self, window: BackwardWindow) -> None:
        out, self._out = self._out, []
        if out:  # one small tensor per pass, however many layer calls it had
            self._passes.append((torch.stack([norm for norm, _ in out]), [layer for _, layer in out]))

    def on_step_skipped(self, optimizer: torch.optim.Optimizer) -> None:
        self._skipped = True

    def on_step_end(self, step: int) -> None:
        passes, self._passes = self._passes, []
        skipped, self._skipped = self._skipped, False
        sampled, self._sampling = self._sampling, step % self.sample_every == 0  # step + 1 is next
        if skipped:
            self._pending.append((step, None, [], []))  # breaks the run of steps
            return
        if not sampled or not passes:
            return
        grads, weight_layers = self._weight_gradients()
        device = passes[0][0].device
        parts = [norms for norms, _ in passes]
        if grads:
            parts.insert(0, _norms(grads, device))
        out_layers = passes[0][1] if len(passes) == 1 else [layer for _, layers in passes for layer in layers]
        self._pending.append((step, torch.cat(parts), weight_layers, out_layers))
        every = 1 if self.sanitizer is None else self.sanitizer.every
        # the first sampled step is read at once (it is judged on its own), unless every= asked
        # for fewer host reads: then it is judged the same way at the first read
        if (not self._initial_done and every == 1) or len(self._pending) >= max(self.window, every):
            self._read()

    def _weight_gradients(self) -> tuple[list[torch.Tensor], list[int]]:
        """The layers' parameter gradients (of those that have one and are trained) and the layer
        of each; the usual step, where every parameter has its gradient, in loops that run in C."""
        params = self._param_tensors
        grads = list(map(_GRAD, params))
        if not any(map(is_, grads, repeat(None))) and all(map(_REQUIRES_GRAD, params)):
            return grads, self._param_layers
        kept = [(p.grad, layer) for p, layer in zip(params, self._param_layers) if p.grad is not None and p.requires_grad]
        return [grad for grad, _ in kept], [layer for _, layer in kept]

    def flush(self) -> None:
        if self._pending:
            self._read()
        for kind, streak in self._streak.items():
            key = (kind, self._since[kind])
            if 2 <= streak < self.window and streak == self._judged and key not in self._partial:
                self._partial.add(key)
                self._report(kind, self._last[kind][0], self._last[kind][1], partial=streak)

    def not_enough(self, seen: int) -> str | None:
        needed = (self.window - 1) * self.sample_every + 1
        if seen >= needed:
            return None
        return (
            f"sustained vanishing/exploding gradients need {needed} steps ({self.window} sampled, one in "
            f"{self.sample_every}); {seen} seen, so only the first step was judged (at initialisation)"
        )

    # -- judging ---------------------------------------------------------------------------------

    def _read(self) -> None:
        pending, self._pending = self._pending, []
        rows = [row for _, row, _, _ in pending if row is not None]
        try:
            host = torch.cat(rows).tolist() if rows else []  # the one host read
        except RuntimeError:  # rows on several devices
            host = [value for row in rows for value in row.tolist()]
        at = 0
        for step, row, weight_layers, out_layers in pending:
            if row is None:
                self._streak = dict.fromkeys(self._streak, 0)
                self._judged = 0
                continue
            by_kind: dict[str, dict[int, float]] = {}
            for kind, layers in (("weight", weight_layers), ("output", out_layers)):
                squares: dict[int, float] = {}
                for layer, value in zip(layers, host[at : at + len(layers)]):
                    squares[layer] = squares.get(layer, 0.0) + value * value
                at += len(layers)
                by_kind[kind] = {layer: math.sqrt(square) for layer, square in sorted(squares.items())}
            self._record(step, by_kind)
            self._judge(step, by_kind)

    def _record(self, step: int, by_kind: dict[str, dict[int, float]]) -> None:
        sanitizer = self.sanitizer
        writer = None if sanitizer is None else sanitizer.tensorboard
        for kind, norms in by_kind.items():
            named = {self._layer_names[layer] or "model": value for layer, value in norms.items()}
            self.series[kind].add(step, named)
            if sanitizer is not None and writer is not None:  # no tag is formatted for no writer
                for name, value in named.items():
                    sanitizer.log_scalar(f"grad_norm/{kind}/{name}", value, step)

    def _judge(self, step: int, by_kind: dict[str, dict[int, float]]) -> None:
        if not self._initial_done:
            self._initial_done = True
            self._judge_initialisation(step, by_kind)
        self._judged += 1
        if not all(map(math.isfinite, _all_norms(by_kind))):
            self._streak = dict.fromkeys(self._streak, 0)  # a non-finite element: the nonfinite check's
            self._judged = 0
            return
        overflow = self._overflowed(by_kind)
        if overflow is not None:  # the strongest signal there is: reported at once, no window
            self._streak = dict.fromkeys(self._streak, 0)
            self._judged = 0
            self._report("exploding-gradient", step, overflow)
            return
        verdicts = self._verdicts(by_kind, self.vanishing_ratio, self.vanishing_norm, self.exploding_ratio)
        if self.exploding_norm is not None and verdicts["exploding-gradient"] is None:
            verdicts["exploding-gradient"] = self._too_large(by_kind)
        for finding_kind, verdict in verdicts.items():
            if verdict is None:
                self._streak[finding_kind] = 0
                continue
            self._streak[finding_kind] += 1
            self._last[finding_kind] = (step, verdict[1])
            if self._streak[finding_kind] == 1:
                self._since[finding_kind] = step
            if self._streak[finding_kind] == self.window:
                self._report(finding_kind, step, verdict[1])

    def _judge_initialisation(self, step: int, by_kind: dict[str, dict[int, float]]) -> None:
        # non-finite elements are the nonfinite check's; an overflowed norm is reported at any step
        if not all(map(math.isfinite, _all_norms(by_kind))):
            return
        if self._overflowed(by_kind) is not None:
            return
        verdicts = self._verdicts(by_kind, self.init_vanishing_ratio, math.inf, self.init_exploding_ratio)
        for finding_kind, verdict in verdicts.items():
            if verdict is not None:
                self._report(finding_kind, step, verdict[1], initial=True)

    def _verdicts(
        self, by_kind: dict[str, dict[int, float]], vanishing_ratio: float, vanishing_norm: float, exploding_ratio: float
    ) -> dict[str, tuple[str, dict[str, Any]] | None]:
        verdicts: dict[str, tuple[str, dict[str, Any]] | None] = {
            "vanishing-gradient": None,
            "exploding-gradient": None,
        }
        for kind, norms in by_kind.items():
            ends = self._first_last(norms)
            if ends is None:
                continue
            first, last = ends
            if norms[last] <= 0 or (norms[first] <= 0 and not self._fades_to_zero(norms)):
                continue  # nothing reached the output layer, or a dead / unused layer cut it off
            ratio = norms[first] / norms[last]
            vanishing = verdicts["vanishing-gradient"] is None and ratio < vanishing_ratio and norms[first] < vanishing_norm
            exploding = verdicts["exploding-gradient"] is None and ratio > exploding_ratio
            if not (vanishing or exploding):
                continue  # the usual step: no facts to gather
            facts = {
                "gradient": kind,
                "first": self._layer_names[first],
                "last": self._layer_names[last],
                "first_norm": norms[first],
                "last_norm": norms[last],
                "ratio": ratio,
            }
            if vanishing:
                verdicts["vanishing-gradient"] = (kind, facts)
            if exploding:
                verdicts["exploding-gradient"] = (kind, facts)
        return verdicts

    def _fades_to_zero(self, norms: dict[int, float]) -> bool:
        """Whether zero norms are where a fading gradient underflowed (some layer's is tiny but
        not zero), not where dead units or an unused output cut it off at once (the layers the
        gradient reached all have a sizeable norm)."""
        return any(0 < value < self.vanishing_norm for value in norms.values())

    def _first_last(self, norms: dict[int, float]) -> tuple[int, int] | None:
        """The layers of ``norms`` first and last in execution order (known for a set of layers
        once the order has no more layers to learn: the usual step asks the same again)."""
        key = (len(self._order), *norms)
        found: tuple[int, int] | None = self._ends.get(key, _UNRANKED)
        if found is _UNRANKED:
            if len(self._ends) >= 64:  # layers skipped at random (stochastic depth) make many sets
                self._ends.clear()
            ranked = sorted((self._order.get(layer, len(self._order) + layer), layer) for layer in norms)
            found = self._ends[key] = None if len(ranked) < 2 else (ranked[0][1], ranked[-1][1])
        return found

    def _overflowed(self, by_kind: dict[str, dict[int, float]]) -> dict[str, Any] | None:
        """The first layer whose (float64) norm is above the float32 maximum: computed in float32,
        as ``clip_grad_norm_`` does for float32 gradients, it overflows to ``inf`` although every
        element is finite (the nonfinite check would see no problem)."""
        if max(_all_norms(by_kind), default=0.0) <= _FLOAT32_MAX:
            return None  # the usual case, found by a loop in C
        for kind, norms in by_kind.items():
            for layer, value in norms.items():
                if value > _FLOAT32_MAX:
                    return {"gradient": kind, "layer": self._layer_names[layer], "norm": value, "overflow": True}
        return None

    def _too_large(self, by_kind: dict[str, dict[int, float]]) -> tuple[str, dict[str, Any]] | None:
        assert self.exploding_norm is not None
        for kind, norms in by_kind.items():
            for layer, value in norms.items():
                if value > self.exploding_norm:
                    return kind, {"gradient": kind, "layer": self._layer_names[layer], "norm": value}
        return None

    def _report(
        self, kind: str, step: int, facts: dict[str, Any], *, initial: bool = False, partial: int = 0
    ) -> None:
        what = "weight gradient" if facts["gradient"] == "weight" else "gradient of the layer outputs"
        start = self._since[kind]
        count = partial or self.window
        steps = f"on {count} steps in a row ({start}-{step})"
        if self.sample_every > 1:
            steps = f"on {count} sampled steps in a row (one step in {self.sample_every}, {start}-{step})"
        if partial:
            steps += f", every sampled step of the run so far (a partial window: {self.window} make a sustained finding)"
        vanishing_ratio, exploding_ratio = self.vanishing_ratio, self.exploding_ratio
        extra: dict[str, Any] = {"window": [step, step] if facts.get("overflow") else [start, step]}
        if initial:
            steps = f"at initialisation (step {step}, before any update)"
            vanishing_ratio, exploding_ratio = self.init_vanishing_ratio, self.init_exploding_ratio
            extra = {"origin": "initialisation", "window": [step, step]}
        elif partial:
            extra.update(partial=True, steps=partial)
        if facts.get("overflow"):
            module = facts["layer"]
            message = (
                f"exploding gradients: the {what} of '{module}' overflowed at step {step}: its norm "
                f"{facts['norm']:.3g} is above the float32 maximum, so clip_grad_norm_ computes inf from finite elements. Clip gradients, lower the "
                "learning rate, check the initialisation scale"
            )
        elif "ratio" not in facts:
            module = facts["layer"]
            message = (
                f"exploding gradients: the {what} of '{module}' had norm {facts['norm']:.3g} > {self.exploding_norm:g} "
                f"{steps}; clip gradients or lower the learning rate"
            )
        else:
            module = facts["first"]
            first, last = facts["first"] or "<model>", facts["last"] or "<model>"
            trend = f"{facts['first_norm']:.3g} at '{first}' (nearest the input) vs {facts['last_norm']:.3g} at '{last}'"
            if kind == "vanishing-gradient":
                message = (
                    f"vanishing gradients: the {what} shrinks from the output to the input layers, {trend} "
                    f"(ratio {facts['ratio']:.2g} < {vanishing_ratio:g}) {steps}; "
                    "the first layers barely learn. Use ReLU-like activations, residual "
                    "connections, normalisation or a variance-preserving initialisation (Kaiming/Xavier)"
                )
            else:
                message = (
                    f"exploding gradients: the {what} grows from the output to the input layers, {trend} "
                    f"(ratio {facts['ratio']:.3g} > {exploding_ratio:g}) {steps}. "
                    "Check the initialisation scale, add normalisation, clip gradients"
                )
        self.emit(Finding(kind, module, "backward", step, message, {**facts, **extra}))

    def summary(self) -> dict[str, Any]:
        ranked = sorted(range(len(self._layer_names)), key=lambda layer: self._order.get(layer, len(self._order) + layer))
        return {
            "layers": [self._layer_names[layer] or "model" for layer in ranked if layer in self._order],
            "norms": {kind: series.to_dict() for kind, series in self.series.items()},
        }


@eager_only
def _on_gradient(
    probe_ref: weakref.ref[GradientProbe], layer: int, index: int, grad_outputs: tuple[torch.Tensor | None, ...]
) -> None:
    probe, grad = probe_ref(), grad_outputs[index]
    if probe is not None and probe.sanitizer is not None and grad is not None:
        probe._observe(layer, grad)


def _all_norms(by_kind: dict[str, dict[int, float]]) -> Iterator[float]:
    """Every norm of a step, of both kinds."""
    return chain.from_iterable(map(dict.values, by_kind.values()))


def _norms(grads: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """One norm per gradient, computed in float64 and stacked on ``device``: the norm of finite
    float32 (or lower precision) elements never overflows there, so an ``inf`` norm means an
    ``inf`` element and a norm above the float32 maximum one that overflowed the user's own float32
    norm (see :meth:`GradientProbe._overflowed`).  One ``torch._foreach_norm`` pass in the usual
    case; sparse gradients by their values, FSDP2's DTensor gradients by this rank's shard (dlsan
    never communicates)."""
    if {(type(g), g.layout, g.device, g.requires_grad) for g in grads} == {(torch.Tensor, torch.strided, device, False)}:
        return torch.stack(foreach_norm_float64(grads))  # the usual case: dense, one device, no DTensor nor graph
    local = [local_tensor(grad.detach()) for grad in grads]
    if all(g.layout is torch.strided and g.device == device for g in local):
        return torch.stack(foreach_norm_float64(local))
    norms = []
    for grad in local:
        values = grad if grad.layout is torch.strided else grad.coalesce().values()
        norms.append(torch.linalg.vector_norm(values, dtype=torch.float64).to(device))
    return torch.stack(norms)
