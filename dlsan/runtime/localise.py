"""Turn a non-finite tape into a finding that names the first bad layer.

Runs only after a cheap check has shown that something is non-finite, so it may synchronise.
The rule (see :mod:`dlsan.runtime.tape`): the first bad slot in tape order (NaN or ``+inf``) was
produced by code that received neither, so

* forward, first bad slot is a call's *output*: that module is the culprit;
* forward, first bad slot is a call's *input* that no module returned: the parent module's own
  code made it, or, for the outermost call, it was already in the model's input;
* backward, first bad gradient is that of a tensor some calls *received*: the innermost of them
  produced it in its backward (its output gradients, which arrived earlier, were finite);
* backward, first bad gradient is that of a tensor no call received: the parent's own code
  consumed it, or, for the model's output, it came from the loss.

``-inf`` is accepted inside the model (masks), so the code that made the first NaN may have
received ``-inf``: when a module *returned* that ``-inf`` (``log(0)``), it is the first bad layer
and the NaN its consequence; ``-inf`` built by a parent's own code or given in the model's input
(an additive mask) or returned by a module named in ``allow_inf`` leaves the blame where the NaN
appeared.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dlsan.runtime.findings import Finding
from dlsan.runtime.recorder import finite_preserving
from dlsan.runtime.stats import format_stats, nonfinite_label, tensor_stats
from dlsan.runtime.structure import Path, format_path
from dlsan.runtime.tape import OUTPUT, BackwardWindow, ForwardPass, bad_reading, version_of


def first_nonfinite(values: Sequence[torch.Tensor]) -> int | None:
    for index, value in enumerate(host_values(values)):
        if not math.isfinite(value):
            return index
    return None


def first_bad_forward(fwd: ForwardPass, host: Sequence[float]) -> int | None:
    """The index of the first bad reading of ``fwd`` (``host``: its values read to the host)."""
    strict_from = len(host) if fwd.strict_from is None else fwd.strict_from
    for index, value in enumerate(host):
        if bad_reading(value, index >= strict_from):
            return index
    return None


_item = torch.Tensor.item


def host_values(values: Sequence[torch.Tensor]) -> list[float]:
    """0-dim device tensors as Python floats.  Off the CPU they travel as one stacked tensor (one
    synchronisation, where one ``item()`` each would wait once per value); on the CPU ``item()``
    costs nothing to wait for and is cheaper than building the stack."""
    if not values:
        return []
    if not values[0].is_cpu:
        try:
            return torch.stack(list(values)).tolist()
        except RuntimeError:  # values on several devices
            pass
    return list(map(_item, values))  # a loop in C: this runs twice every step


class ModuleTable:
    """Names, classes and (weakly held) modules of the instrumented model, by index."""

    def __init__(self, named_modules: Sequence[tuple[str, nn.Module]], allow_inf: Sequence[bool] = ()) -> None:
        self.names = [name for name, _ in named_modules]
        self.types = [type(module).__name__ for _, module in named_modules]
        self._refs = [weakref.ref(module) for _, module in named_modules]
        #: per module: whether ``allow_inf`` names it (its ``-inf`` is on purpose)
        self.allow_inf = list(allow_inf) or [False] * len(self.names)

    def module(self, index: int) -> nn.Module | None:
        return self._refs[index]()

    def finite_preserving(self, index: int) -> bool:
        module = self.module(index)
        return module is not None and finite_preserving(module)

    def label(self, index: int) -> str:
        name = self.names[index]
        return f"module '{name}' ({self.types[index]})" if name else f"the model itself ({self.types[index]})"


def forward_finding(fwd: ForwardPass, table: ModuleTable, k: int) -> Finding:
    """The finding for ``fwd``, whose first bad reading is ``values[k]`` (see :func:`first_bad_forward`)."""
    slot = consequence = fwd.value_slots[k]
    escapes = fwd.strict_from is not None and k >= fwd.strict_from
    source = _neg_inf_source(fwd, slot, table)
    if source is not None:
        slot = source
    owner, path = fwd.owners[slot], _fmt(fwd.paths[slot])
    bad_stats = _stats(fwd, slot)
    label = nonfinite_label(bad_stats)
    if fwd.roles[slot] == OUTPUT:
        call, origin = owner, "module"
        where = f"its {path}"
    elif fwd.call_parent[owner] < 0:
        call, origin = owner, "input"
        where = f"the model input {path}"
    else:
        call, origin = fwd.call_parent[owner], "module"
        where = f"the tensor its own code passed to '{table.names[fwd.call_module[owner]]}' as {path}"
    index = fwd.call_module[call]
    details: dict[str, Any] = {"where": path}
    if origin == "input":
        head = (
            f"{label} already in the model input at step {fwd.step}, before any layer ran "
            f"({path} of {table.label(index)}): the data is bad, not a layer"
        )
    else:
        head = f"{label} first appeared in the forward pass at step {fwd.step} in {table.label(index)}: {where}"
    lines = [head, f"  {path}: " + _describe(fwd, slot, bad_stats)]
    if consequence != slot:
        effect = fwd.call_module[fwd.owners[consequence]]
        lines.append(f"  it led to {nonfinite_label(_stats(fwd, consequence))} in {table.label(effect)}")
        details["consequence"] = table.names[effect]
    if escapes:
        lines.append(
            f"  it leaves the model in {_fmt(fwd.paths[consequence])}; if the model returns -inf on purpose "
            "(masked logits), name the module in allow_inf="
        )
    if origin != "input":
        received = fwd.call_inputs[call]
        if received:
            described = [(_fmt(path), s, _stats(fwd, s)) for s, path in received]
            masked = any(stats is not None and stats["neginf"] for _, _, stats in described)
            lines.append("  it received inputs free of NaN and +inf:" if masked else "  it received finite inputs:")
            lines.extend(f"    {name}: {_describe(fwd, s, stats)}" for name, s, stats in described)
        else:
            lines.append("  it received no floating-point tensors")
        bad_params = _nonfinite_parameters(table.module(index))
        if bad_params:
            origin = "parameter"
            lines.append("  its parameters were already non-finite (corrupted by an earlier update):")
            lines.extend(f"    {name}: {format_stats(stats)}" for name, stats in bad_params)
            details["parameters"] = [name for name, _ in bad_params]
    details.update(origin=origin, stats=bad_stats)
    return Finding("nonfinite", table.names[index], "forward", fwd.step, "\n".join(lines), details)


def _neg_inf_source(fwd: ForwardPass, slot: int, table: ModuleTable) -> int | None:
    """The slot whose ``-inf`` the code that made ``slot`` consumed, when a module returned it
    (followed back as far as it goes), or ``None``.  Failure path only: reads tensor values."""
    found = None
    for _ in range(len(fwd.roles)):
        owner = fwd.owners[slot]
        call = owner if fwd.roles[slot] == OUTPUT else fwd.call_parent[owner]
        if call < 0:
            break
        candidates = [
            s
            for s in _visible(fwd, call, slot)
            if fwd.roles[s] == OUTPUT and not table.allow_inf[fwd.call_module[fwd.owners[s]]] and _holds_neg_inf(fwd, s)
        ]
        if not candidates:
            break
        slot = found = min(candidates)
    return found


def _visible(fwd: ForwardPass, call: int, before: int) -> list[int]:
    """Slots older than ``before`` that the code of ``call`` saw: its inputs and what the calls
    nested inside it returned."""
    seen = [s for s, _ in fwd.call_inputs[call] if s < before]
    for inner in range(call + 1, len(fwd.call_module)):
        parent = fwd.call_parent[inner]
        while parent > call:
            parent = fwd.call_parent[parent]
        if parent == call:
            seen.extend(s for s, _ in fwd.call_outputs[inner] if s < before)
    return seen


def _holds_neg_inf(fwd: ForwardPass, slot: int) -> bool:
    tensor = fwd.refs[slot]()
    return tensor is not None and bool(torch.isneginf(tensor.detach()).any())


def backward_finding(window: BackwardWindow, table: ModuleTable, step: int) -> Finding | None:
    k = first_nonfinite(window.values)
    if k is None:
        return None
    fwd, slot = window.entries[k]
    path = fwd.paths[slot]
    details: dict[str, Any] = {"where": _fmt(path)}
    # A finite-preserving module (ReLU, pooling...) cannot turn finite gradients into non-finite
    # ones: when it is the only module that received the tensor, the parent's code did it.
    received_by = fwd.consumers(slot)
    consumers = [c for c in received_by if not table.finite_preserving(fwd.call_module[c])]
    if consumers:
        call = max(consumers, key=lambda c: (fwd.depth(c), c))
        input_path = next(p for s, p in fwd.call_inputs[call] if s == slot)
        details["where"] = _fmt(input_path)
        origin, index = "module", fwd.call_module[call]
        head = (
            f"non-finite gradient first appeared in the backward pass at step {step} in {table.label(index)}: "
            f"the gradient for its input {_fmt(input_path)}"
        )
        tail = (
            "the gradients it received for its outputs were finite"
            if _received_gradients(window, k, fwd, call)
            else "(the gradients arriving at its outputs were not checked one by one)"
        )
        message = f"{head}\n  {tail}"
    else:
        producers = fwd.producers(slot)
        anchor = min(received_by or producers or [fwd.owners[slot]], key=fwd.depth)
        parent = fwd.call_parent[anchor]
        if parent < 0:
            origin, index = "loss", fwd.call_module[anchor]
            message = (
                f"the gradient arriving at the model's {_fmt(path)} at step {step} is already non-finite: "
                f"the loss (or other code after the model) produced it"
            )
        else:
            origin, index = "module", fwd.call_module[parent]
            source = f"'{table.names[fwd.call_module[producers[0]]]}'" if producers else "its own code"
            message = (
                f"non-finite gradient first appeared in the backward pass at step {step} in the own code of "
                f"{table.label(index)}, outside its sub-modules: the gradient it computed for the "
                f"{_fmt(path)} of {source}"
            )
    details["origin"] = origin
    return Finding("nonfinite", table.names[index], "backward", step, message, details)


def parameter_gradient_finding(
    named_grads: Sequence[tuple[str, int, torch.Tensor]], table: ModuleTable, step: int, hint: str
) -> Finding:
    """``named_grads``: ``(parameter name, owning module index, grad)`` of the non-finite ones."""
    name, index, grad = named_grads[0]
    stats = tensor_stats(grad)
    lines = [
        f"{nonfinite_label(stats)} in the gradient of parameter '{name}' at step {step}, "
        f"before the optimizer step; it belongs to {table.label(index)}",
        f"  grad: {format_stats(stats)}",
    ]
    if len(named_grads) > 1:
        others = ", ".join(n for n, _, _ in named_grads[1:6])
        lines.append(f"  also non-finite: {others}" + (" ..." if len(named_grads) > 6 else ""))
    if hint:
        lines.append(f"  {hint}")
    details = {"origin": "parameter-gradient", "parameters": [n for n, _, _ in named_grads], "stats": stats}
    return Finding("nonfinite", table.names[index], "backward", step, "\n".join(lines), details)


def _received_gradients(window: BackwardWindow, k: int, fwd: ForwardPass, call: int) -> list[int]:
    outputs = {s for s, _ in fwd.call_outputs[call]}
    return [j for j in range(k) if window.entries[j][0] is fwd and window.entries[j][1] in outputs]


def _nonfinite_parameters(module: nn.Module | None) -> list[tuple[str, dict[str, Any]]]:
    if module is None:
        return []
    found = []
    for name, param in module.named_parameters(recurse=False):
        if param.is_floating_point() and not bool(torch.isfinite(param.detach()).all()):
            found.append((name, tensor_stats(param)))
    return found


def _stats(fwd: ForwardPass, slot: int) -> dict[str, Any] | None:
    tensor = fwd.refs[slot]()
    return None if tensor is None else tensor_stats(tensor)


def _describe(fwd: ForwardPass, slot: int, stats: dict[str, Any] | None) -> str:
    tensor = fwd.refs[slot]()
    if stats is None or tensor is None:
        return "values not available (the tensor was freed before the check)"
    text = format_stats(stats)
    if version_of(tensor) != fwd.versions[slot]:
        text += " (as it is now: it was modified in place later)"
    return text


def _fmt(path: Path) -> str:
    return format_path(path[0], path[1:])
