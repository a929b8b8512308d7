"""``init-scale``: the activation scale collapses or blows up across depth at initialisation.

Glorot and He initialisation rest on one rule: each layer should keep its output at roughly the
scale of its input, or a deep stack multiplies a per-layer factor into zeros (a collapse: the
loss sees nothing of the input) or overflows (a blow-up).  On the first training forward pass the
probe takes, for every Linear and Conv layer in execution order, the standard deviation of its
input and of its output over the batch (per feature, then averaged: a bias adds a constant per
feature, not signal), two device-side reductions per layer, read with one host read when the pass
ends.  The product across depth is the last layer's output scale over the first layer's
input scale: below ``collapse`` (1e-3) or above ``blowup`` (1e3) it is a finding that names the
layers whose factor (output scale over the previous layer's output scale, activation included)
drives it, and suggests the initialisation that fits the model's activations.  Normalisation
layers reset the scale and so keep the product near 1, as they should.

PyTorch's default initialisation keeps about 0.4 of the scale per Linear+ReLU layer, so plain
stacks of more than about eight such layers without normalisation are reported too: that is the
collapse He initialisation was designed against.

Only the first training pass is looked at (``every`` re-measures every N steps when asked); the
hooks are removed once the measurement is done, so later steps pay nothing.  Fewer than three
layers are not judged: depth is what multiplies the factor.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from dlsan.runtime.compat import in_compiled_module
from dlsan.runtime.findings import Finding
from dlsan.runtime.probe import Probe, register_probe
from dlsan.runtime.tape import ForwardPass

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import ProbeHost

_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)
_SATURATING = (nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Softsign)
_MIN_LAYERS = 3
#: a layer whose factor is outside [1 / _DRIVER, _DRIVER] is named as driving the collapse/blow-up
_DRIVER = 2.0


@register_probe
class InitScaleProbe(Probe):
    """Options: ``collapse`` (1e-3), ``blowup`` (1e3) and ``every`` (None: the first step only)."""

    name = "init-scale"
    kinds = ("init-scale",)

    def __init__(self, collapse: float = 1e-3, blowup: float = 1e3, every: int | None = None) -> None:
        super().__init__()
        if not 0 < collapse < 1 < blowup:
            raise ValueError(f"init-scale: need 0 < collapse < 1 < blowup, not {collapse!r}, {blowup!r}")
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(f"init-scale: every must be a positive int or None, not {every!r}")
        self.collapse = collapse
        self.blowup = blowup
        self.every = every
        self._names: list[str] = []
        self._handles: list[Any] = []
        self._measuring = True
        self._measured: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # (layer, input std, output std)
        self._saturating = False
        self._reported = False
        self._pending: tuple[int, list[int], torch.Tensor] | None = None  # (step, layers, device stds)

    def attach(self, sanitizer: ProbeHost) -> None:
        super().attach(sanitizer)
        for name, module in sanitizer.named_modules():
            self._saturating = self._saturating or isinstance(module, _SATURATING)
            if isinstance(module, _LAYERS):
                self._handles.append(sanitizer.register_forward_hook(module, self._hook(len(self._names))))
                self._names.append(name)
        if self.every is None:
            sanitizer.unsubscribe(self.on_step_end)  # it only re-arms a measurement every N steps

    def detach(self) -> None:
        self._measured = []
        self._pending = None
        super().detach()

    def _hook(self, layer: int) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if not self._measuring or not torch.is_grad_enabled():
                return
            x = args[0] if args else None
            if not isinstance(x, torch.Tensor) or not isinstance(output, torch.Tensor):
                return
            if x.dim() < 2 or x.shape[0] < 2 or output.dim() < 2 or not x.is_floating_point():
                return
            self._measured.append((layer, _batch_std(x), _batch_std(output)))

        return hook

    def on_forward_end(self, fwd: ForwardPass) -> None:
        if not self._measuring or not fwd.grad_enabled:
            return
        measured, self._measured = self._measured, []
        self._measuring = False
        sanitizer = self.sanitizer
        if self.every is None and sanitizer is not None:
            sanitizer.unsubscribe(self.on_forward_end)  # done: later passes cost it nothing
        if self.every is None and not in_compiled_module():  # else kept, inert (see in_compiled_module)
            for handle in self._handles:
                handle.remove()
        if len({layer for layer, _, _ in measured}) >= _MIN_LAYERS:
            rows = torch.stack([torch.stack([a, b]) for _, a, b in measured])
            self._pending = (fwd.step + 1, [layer for layer, _, _ in measured], rows)
            every = 1 if self.sanitizer is None else self.sanitizer.every
            if every == 1:  # else read with the other deferred checks (flush)
                self.flush()

    def flush(self) -> None:
        if self._pending is not None:
            (step, layers, rows), self._pending = self._pending, None
            values = rows.tolist()  # the one host read
            self._judge(step, [(layer, a, b) for layer, (a, b) in zip(layers, values)])

    def on_step_end(self, step: int) -> None:
        if self.every is not None and step % self.every == 0:
            self._measuring = True

    def _judge(self, step: int, measured: list[tuple[int, float, float]]) -> None:
        # a layer whose output lost all variation (the signal shrank below the rounding of its
        # bias) ends the chain: everything after it sees a constant
        end = next((i for i, (_, _, out) in enumerate(measured) if out == 0), len(measured) - 1)
        measured = measured[: end + 1]
        if self._reported or not all(math.isfinite(v) for _, a, b in measured for v in (a, b)):
            return  # non-finite: the nonfinite check's business
        if not all(a > 0 for _, a, _ in measured):
            return  # a zero input: dead units (the dead-relu check's), or a constant input
        product = measured[-1][2] / measured[0][1]
        if self.collapse <= product <= self.blowup:
            return
        collapse = product < self.collapse
        factors = [(measured[0][0], measured[0][2] / measured[0][1])]
        factors += [(layer, out / previous) for (_, _, previous), (layer, _, out) in zip(measured, measured[1:])]
        drivers = [layer for layer, f in factors if (f < 1 / _DRIVER if collapse else f > _DRIVER)]
        names = list(dict.fromkeys(self._names[layer] or "<model>" for layer in drivers))
        geometric = math.exp(math.log(product) / len(factors)) if product > 0 else 0.0
        if self._saturating:
            init = "nn.init.xavier_normal_ (Glorot) for tanh/sigmoid layers"
        else:
            init = 'nn.init.kaiming_normal_(weight, nonlinearity="relu") (He) for ReLU layers'
        what = "collapses" if collapse else "blows up"
        shown = ", ".join(repr(n) for n in names[:6]) + (", ..." if len(names) > 6 else "")
        message = (
            f"at initialisation (step {step}) the activation scale {what} across depth: the last layer's output has "
            f"{product:.3g} times the standard deviation of the first layer's input over {len(factors)} layers "
            f"(about {geometric:.2g}x per layer), driven by {shown or 'every layer a little'}. Initialise the "
            f"weights to keep each layer's scale: {init}, or add normalisation (BatchNorm/LayerNorm)"
        )
        first = self._names[drivers[0]] if drivers else self._names[measured[0][0]]
        self._reported = True
        self.emit(
            Finding(
                "init-scale", first, "forward", step, message,
                {"product": product, "per_layer": geometric, "layers": names, "collapse": collapse,
                 "factors": {self._names[layer] or "<model>": f for layer, f in factors}},
            )
        )  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {"collapse": self.collapse, "blowup": self.blowup}


def _batch_std(tensor: torch.Tensor) -> torch.Tensor:
    """The standard deviation over the batch (dim 0), averaged over features and positions."""
    return tensor.detach().float().std(dim=0).mean()
