"""``train-mode-in-eval``: a model with dropout or batch-norm run under ``no_grad`` in training mode.

Code under ``torch.no_grad()``/``inference_mode()`` is evaluation or inference, and there dropout
should be off and batch-norm should use its running statistics; in training mode dropout still
drops units (noisy, pessimistic metrics) and batch-norm normalises with the batch's statistics
and *updates* its running averages with evaluation data.  The usual cause is a missing
``model.eval()``.  Intentional uses exist (Monte Carlo dropout, recomputing batch-norm
statistics): switch the check off with ``checks=`` then.

Host-side only: ``torch.is_grad_enabled()`` and ``module.training`` at the outermost call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from dlsan.runtime.findings import Finding
from dlsan.runtime.probe import Probe, register_probe
from dlsan.runtime.tape import ForwardPass

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import ProbeHost

_MODE_SENSITIVE = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)


@register_probe
class TrainModeProbe(Probe):
    name = "train-mode-in-eval"
    kinds = ("train-mode-in-eval",)

    def __init__(self) -> None:
        super().__init__()
        self._sensitive: dict[int, tuple[str, nn.Module]] = {}
        self._names: list[str] = []

    def attach(self, sanitizer: ProbeHost) -> None:
        super().attach(sanitizer)
        for index, (name, module) in enumerate(sanitizer.named_modules()):
            if isinstance(module, _MODE_SENSITIVE):
                self._sensitive[index] = (name, module)
        self._names = sanitizer.table.names

    def on_forward_end(self, fwd: ForwardPass) -> None:
        if fwd.grad_enabled or not self._sensitive:
            return
        active = {
            index: self._sensitive[index]
            for index in fwd.call_module
            if index in self._sensitive and self._sensitive[index][1].training
        }
        if not active:
            return
        root = self._names[fwd.call_module[0]]
        label = f"'{root}'" if root else "the model"
        culprits = [name for name, _ in active.values()]
        kinds = sorted({type(module).__name__ for _, module in active.values()})
        self.emit(
            Finding(
                "train-mode-in-eval",
                root,
                "forward",
                fwd.step,
                f"{label} ran under no_grad/inference_mode while in training mode: {', '.join(kinds)} "
                f"({', '.join(repr(n) for n in culprits[:5])}{', ...' if len(culprits) > 5 else ''}) behave as in "
                "training (dropout drops units, batch-norm uses and updates batch statistics). "
                "Call model.eval() before evaluating, and model.train() after",
                {"modules": culprits, "types": kinds},
            )
        )
