"""``graph-leak``: the autograd graphs of earlier steps still alive at a later step.

``running_loss += loss`` (or ``losses.append(loss)``, a meter fed the loss tensor) keeps a tensor
with a ``grad_fn`` outside the loop: each step's graph hangs on to the previous ones, and memory
grows every step until the run dies.  The lint rule DLS101 finds the pattern in the source; this
probe sees it happen.

How: after every training forward pass a small tag object is stored in the ``metadata`` dict of
the model output's autograd node (``torch.autograd.graph.Node.metadata``), which lives exactly as
long as the node; the probe keeps only a weak reference to the tag.  At each step end it asks
which tags are still alive: the graph of the step that just ended may rightly be held (the
``loss`` variable of the loop), so only graphs from steps before it count, and a finding needs
``graphs`` (2) of those earlier steps alive at once, so that keeping one best loss or the last
step's output is never a leak.  The message names the step the oldest live graph came from, the
model output it belongs to, and how memory grew per step since the first step (CUDA allocated
memory for a model on a GPU, the process's resident memory otherwise).

Cost: per training forward pass one attribute lookup and one dict store; per step a scan of the
live tags (normally one or two); memory is read twice in a run, at the first step and on a
finding.  No tensor is read or held.
"""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Any, cast

import torch

from dlsan.runtime.findings import Finding
from dlsan.runtime.location import caller_location
from dlsan.runtime.probe import Probe, check_positive_int, register_probe
from dlsan.runtime.structure import Path, format_path
from dlsan.runtime.tape import ForwardPass

if TYPE_CHECKING:  # pragma: no cover
    from dlsan.runtime.host import ProbeHost

_KEY = "dlsan.graph-leak"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class _Tag:
    """Lives exactly as long as the autograd node whose ``metadata`` holds it."""

    __slots__ = ("__weakref__",)


@register_probe
class GraphLeakProbe(Probe):
    """Option: ``graphs``, how many earlier steps' graphs alive at once make a finding (2)."""

    name = "graph-leak"
    kinds = ("graph-leak",)

    def __init__(self, graphs: int = 2) -> None:
        super().__init__()
        check_positive_int(graphs, "graph-leak: graphs")
        self.graphs = graphs
        # per tagged pass: (tag, the step it ran in (0-based), the model output's path)
        self._tags: list[tuple[weakref.ref[_Tag], int, Path]] = []
        self._baseline: tuple[int, int | None] | None = None  # (step, memory) at the first step end
        self._device: torch.device | None = None
        self._reported = False

    def attach(self, sanitizer: ProbeHost) -> None:
        super().attach(sanitizer)
        params = list(sanitizer.model.parameters())
        self._device = params[0].device if params else None

    def detach(self) -> None:
        self._tags.clear()
        super().detach()

    def on_forward_end(self, fwd: ForwardPass) -> None:
        found = None if self._reported or not fwd.grad_enabled else fwd.output_node()
        if found is not None:
            node, path = found
            tag = _Tag()
            cast("dict[str, Any]", node.metadata)[_KEY] = tag
            self._tags.append((weakref.ref(tag), fwd.step, path))

    def on_step_end(self, step: int) -> None:
        if self._baseline is None:
            self._baseline = (step, self._memory())
        # the forward passes of the step that just ended ran at fwd.step == step - 1
        self._check(before=step - 1, step=step, location=True)

    def flush(self) -> None:
        sanitizer = self.sanitizer
        if sanitizer is not None:
            self._check(before=sanitizer.step - 1, step=sanitizer.step, location=False)

    def not_enough(self, seen: int) -> str | None:
        needed = self.graphs + 1
        if seen >= needed:
            return None
        return f"a graph leak shows after {needed} steps ({self.graphs} earlier graphs alive); {seen} seen"

    def _check(self, *, before: int, step: int, location: bool) -> None:
        if self._reported:
            return
        self._tags = [entry for entry in self._tags if entry[0]() is not None]
        if len(self._tags) < self.graphs:  # the usual case: the step that just ended, alone
            return
        old = [entry for entry in self._tags if entry[1] < before]
        steps = sorted({entry[1] for entry in old})
        if len(steps) < self.graphs:
            return
        self._reported = True
        _, oldest, path = min(old, key=lambda entry: entry[1])
        where = format_path(path[0], path[1:]) if path else "output"
        growth, per_step = "", None
        since, memory = self._baseline if self._baseline is not None else (step, None)
        now = self._memory()
        if memory is not None and now is not None and step > since:
            per_step = (now - memory) / (step - since)
            growth = f"; memory grew by {per_step / 2**20:.3g} MiB per step since step {since}"
        message = (
            f"the autograd graphs of {len(steps)} earlier steps are still alive at step {step} (the oldest from "
            f"step {oldest + 1}, reached from the model's {where}){growth}: a tensor with a grad_fn is kept "
            "outside the loop (running_loss += loss, losses.append(loss), a meter fed the loss tensor), so every "
            "step's graph stays in memory. Keep loss.item() or loss.detach() instead (lint rule DLS101)"
        )
        finding = Finding(
            "graph-leak", "", "step", step, message,
            {"steps": [s + 1 for s in steps], "oldest": oldest + 1, "where": where, "memory_per_step": per_step},
        )  # fmt: skip
        if location:  # from the optimizer's step(): the user's training loop
            found = caller_location()
            if found is not None:
                finding.path, finding.line = found
        self.emit(finding)

    def _memory(self) -> int | None:
        device = self._device
        if device is not None and device.type == "cuda":
            return int(torch.cuda.memory_allocated(device))
        try:
            with open("/proc/self/statm", "rb") as handle:
                return int(handle.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            return None

    def summary(self) -> dict[str, Any]:
        return {"graphs": self.graphs, "live": len([entry for entry in self._tags if entry[0]() is not None])}
