"""``unused-parameter``: trainable parameters that backward never reaches, step after step.

A parameter whose ``.grad`` is still ``None`` after the backward pass was not part of the graph:
its module was never called (an auxiliary head someone forgot to add to the loss), its output
was dropped or detached, or it ran under ``no_grad``.  The optimizer still holds state for it and
weight decay still shrinks it.  One step proves little (a branch taken every other batch), so a
parameter is reported after ``steps`` consecutive training steps (default 5) without a gradient.
Frozen parameters (``requires_grad=False``) are what the user asked for, never findings.  When
the run ends sooner (``flush``: ``report()``, ``remove()``), parameters that received no gradient
in any of the steps so far, at least three, are reported as a partial window
(``details["partial"]``): a debugging run of three steps still says ``aux_head.*`` never learned.
Under FSDP1 a flat parameter is judged whole and reported by the names of the parameters in it; a
rank judges only the parameters whose shard it holds (dlsan never communicates).

Host-side only: ``p.grad is None`` reads no tensor value.
"""

from __future__ import annotations

from itertools import repeat
from operator import attrgetter, is_
from typing import TYPE_CHECKING, Any

from torch import nn

from dlsan.runtime.findings import Finding
from dlsan.runtime.names import parameter_names
from dlsan.runtime.probe import Probe, check_positive_int, register_probe
from dlsan.runtime.tape import BackwardWindow

_GRAD = attrgetter("grad")
#: fewest training steps for reporting a partial window at the end of a run (two backward
#: passes can be one step's gradient penalty, where a bias rightly gets no gradient)
_MIN_PARTIAL = 3

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import ProbeHost


@register_probe
class UnusedParameterProbe(Probe):
    """Option: ``steps``, consecutive training steps without a gradient before a report (5)."""

    name = "unused-parameter"
    kinds = ("unused-parameter",)

    def __init__(self, steps: int = 5) -> None:
        super().__init__()
        check_positive_int(steps, "unused-parameter: steps")
        self.steps = steps
        self._params: list[tuple[str, str, nn.Parameter]] = []  # (module, parameter path, parameter)
        self._missing: dict[str, int] = {}
        self._tensors: list[nn.Parameter] = []  # the parameters of _params, in order
        self._reported: set[str] = set()
        self._partial: set[str] = set()
        self._backward = False
        self._steps_seen = 0  # training steps with a backward pass through the model

    def attach(self, sanitizer: ProbeHost) -> None:
        super().attach(sanitizer)
        seen: set[int] = set()
        for module_name, module in sanitizer.named_modules():
            for name, param in module.named_parameters(recurse=False):
                if id(param) not in seen:  # a shared (tied) parameter belongs to its first owner
                    seen.add(id(param))
                    self._params.append((module_name, ", ".join(parameter_names(module_name, name, param)), param))
        self._tensors = [param for _, _, param in self._params]

    def on_backward_end(self, window: BackwardWindow) -> None:
        self._backward = True

    def on_step_end(self, step: int) -> None:
        if not self._backward:
            return  # the optimizer stepped without a backward pass through the model
        self._backward = False
        self._steps_seen += 1
        # numel 0: FSDP1 (use_orig_params) leaves an empty view on the ranks that do not hold the
        # parameter's shard; whether it got a gradient is known only where the shard is.  Built in
        # one pass (the usual step has every gradient): a count survives only while it keeps growing
        previous = self._missing
        if not any(map(is_, map(_GRAD, self._tensors), repeat(None))):  # the usual step, every gradient there (a loop in C)
            self._missing = {}
            return
        self._missing = {
            path: previous.get(path, 0) + 1
            for _, path, param in self._params
            if param.grad is None and param.requires_grad and param.numel()
        }
        newly: dict[str, list[str]] = {}
        for module_name, path, _ in self._params if self._missing else ():
            if self._missing.get(path) == self.steps and path not in self._reported:
                self._reported.add(path)
                newly.setdefault(module_name, []).append(path)
        for module_name, paths in newly.items():
            self._report(module_name, paths, step)

    def flush(self) -> None:
        seen = self._steps_seen
        if seen < _MIN_PARTIAL or seen >= self.steps:
            return
        newly: dict[str, list[str]] = {}
        for module_name, path, _ in self._params:
            if self._missing.get(path) == seen and path not in self._partial and path not in self._reported:
                self._partial.add(path)
                newly.setdefault(module_name, []).append(path)
        sanitizer = self.sanitizer
        for module_name, paths in newly.items():
            self._report(module_name, paths, sanitizer.step if sanitizer is not None else seen, partial=seen)

    def not_enough(self, seen: int) -> str | None:
        if self._steps_seen >= self.steps:
            return None
        return (
            f"a sustained unused-parameter finding needs {self.steps} training steps in a row; "
            f"{self._steps_seen} seen (a partial window of {_MIN_PARTIAL} or more is reported)"
        )

    def _report(self, module: str, paths: list[str], step: int, partial: int = 0) -> None:
        label = f"module '{module}'" if module else "the model"
        names = ", ".join(paths)
        if partial:
            when = (
                f"in any of the {partial} training steps of the run so far (a partial window: "
                f"{self.steps} in a row make a sustained finding)"
            )
            details: dict[str, Any] = {"parameters": paths, "steps": partial, "partial": True}
        else:
            when = f"in {self.steps} training steps in a row (up to step {step})"
            details = {"parameters": paths, "steps": self.steps}
        self.emit(
            Finding(
                "unused-parameter",
                module,
                "backward",
                step,
                f"{names} of {label} received no gradient {when}: the module was not called, its output did not "
                "reach the loss, or it ran under no_grad/detach. Add it to the loss, remove it, or freeze it with "
                "requires_grad_(False)",
                details,
            )
        )

    def summary(self) -> dict[str, Any]:
        return {"steps": self.steps, "unused": sorted(self._reported)}
