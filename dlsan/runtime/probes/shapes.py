"""``shape``: declared shape contracts (``shapes={"encoder": "B T D -> B T D"}``), checked per call.

Host-side metadata only (tensor sizes), so checking costs no device work; the probe hooks only the
modules that have a contract.  Inputs are checked before the module runs, outputs after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from dlsan.runtime.contracts import Binding, Contract, TensorSpec, check_tensor
from dlsan.runtime.findings import Finding
from dlsan.runtime.probe import Probe, register_probe
from dlsan.runtime.structure import format_path, tensors_in
from dlsan.runtime.tape import ForwardPass

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import ProbeHost


@register_probe
class ShapeProbe(Probe):
    name = "shape"
    kinds = ("shape",)
    fatal = True

    def __init__(self) -> None:
        super().__init__()
        self._bindings: dict[str, Binding] = {}
        self._step = 0

    def attach(self, sanitizer: ProbeHost) -> None:
        super().attach(sanitizer)
        if not sanitizer.contracts:
            sanitizer.unsubscribe(self.on_forward_begin)  # nothing to check: no call per pass
        modules = dict(sanitizer.named_modules())
        for name, contract in sanitizer.contracts.items():
            module = modules[name]
            sanitizer.register_forward_pre_hook(module, self._pre_hook(contract), with_kwargs=True)
            sanitizer.register_forward_hook(module, self._post_hook(contract))

    def on_forward_begin(self, fwd: ForwardPass) -> None:
        self._bindings = {}
        self._step = fwd.step

    def _pre_hook(self, contract: Contract) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if contract.inputs:
                found = tensors_in(args, ("args",)) + tensors_in(kwargs, ("kwargs",))
                self._check(contract, contract.inputs, found, "input")

        return hook

    def _post_hook(self, contract: Contract) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if contract.outputs:
                self._check(contract, contract.outputs, tensors_in(output, ("output",)), "output")

        return hook

    def _check(
        self, contract: Contract, specs: tuple[TensorSpec, ...], found: list[tuple[Any, Any]], side: str
    ) -> None:
        label = f"'{contract.module}'" if contract.module else "the model"
        if len(found) < len(specs):
            self._report(
                contract,
                f"{label} broke its shape contract '{contract.text}': it has {len(specs)} {side} spec(s) "
                f"but the module's {side} holds {len(found)} tensor(s)",
                {"side": side},
            )
            return
        for spec, (path, tensor) in zip(specs, found):
            where = f"{'the model' if not contract.module else repr(contract.module)} {format_path(path[0], path[1:])}"
            problem = check_tensor(spec, tuple(tensor.shape), self._bindings, where)
            if problem is not None:
                self._report(
                    contract,
                    f"{label} broke its shape contract '{contract.text}' at step {self._step}: {problem}",
                    {"side": side, "where": format_path(path[0], path[1:]), "shape": list(tensor.shape)},
                )
                return

    def _report(self, contract: Contract, message: str, details: dict[str, Any]) -> None:
        details["contract"] = contract.text
        self.emit(Finding("shape", contract.module, "forward", self._step, message, details))
