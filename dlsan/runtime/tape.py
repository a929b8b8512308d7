"""What one forward pass looked like, and which gradients flowed back through it.

The tape records, for every call of an instrumented module, which tensors crossed the module's
boundary.  Each distinct tensor *value* is one **slot**, numbered in the order it was first seen:

* a tensor a module returns is an *output* slot of that call;
* a tensor a module receives that no earlier call returned (the model's input, or something the
  parent module's own code computed) is an *input* slot of that call;
* a tensor returned by one call and passed to the next is one slot, seen twice (found again by
  ``id`` and version counter, so an in-place change makes a new slot).

Per slot the tape keeps one 0-dim device tensor, the tensor's ``max``: NaN and ``+inf`` propagate
through it and no finite value can overflow it (a sum can: attention masks filled with
``finfo.min`` are finite, their sum is not).  ``-inf`` is accepted inside the model: additive
masks hold it (``nn.TransformerEncoder`` turns a boolean padding mask into one, and
``generate_square_subsequent_mask`` returns one) and the softmax that consumes them is finite.
Where it does harm it turns into NaN or ``+inf`` at the module that consumes it, which the
localiser then traces back to the module that returned the ``-inf`` (see
:mod:`dlsan.runtime.localise`).  Where tensors leave the model (the outermost call's outputs)
``-inf`` is an error too: one ``min`` each, after every other value (from ``strict_from`` on).

So the whole pass can be judged later with one host synchronisation, and the *first bad slot in
order* is exactly the first bad layer: everything seen before it was free of NaN and ``+inf``, so
the call that produced it received no NaN nor ``+inf``.  The backward pass is recorded the same
way, in the order the gradients of the slots arrive, with ``aminmax`` (two values per gradient):
a gradient holding ``-inf`` is always a bug.

Outputs of *finite-preserving* modules (ReLU, max-pooling, Flatten...: finite inputs always give
finite outputs) get a slot but no sum: they cannot be the first bad slot, so reading them would
only cost memory bandwidth (see :data:`dlsan.runtime.recorder.FINITE_PRESERVING`).

Nothing here holds a tensor beyond the pass itself: slots keep weak references (used only to
describe a culprit), plus strong ones while the pass runs (see ``keep``).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Any

import torch

from dlsan.runtime.structure import Path

INPUT = 0
OUTPUT = 1
#: the version of an inference tensor, which has no version counter (see :func:`version_of`)
NO_VERSION = -1


def version_of(tensor: torch.Tensor) -> int:
    """``tensor._version``, or :data:`NO_VERSION` for tensors made under ``inference_mode``.

    Asked first, not caught: reading the version of an inference tensor raises a c10 error, and
    building one (with its C++ backtrace) costs tens of microseconds, on every module boundary."""
    return NO_VERSION if tensor.is_inference() else tensor._version


class ForwardPass:
    """One outermost call of an instrumented module and everything it called.

    Calls are numbered in the order they started; ``call_module[c]`` is the index of the module
    (into the sanitizer's ``table.names``), ``call_parent[c]`` the enclosing call (``-1`` for the outermost),
    ``call_inputs[c]`` / ``call_outputs[c]`` lists of ``(slot, path)``.  Slot ``s`` has
    ``roles[s]`` (:data:`INPUT` or :data:`OUTPUT`), ``owners[s]`` (the call that returned it, or the
    first call that received it) and ``paths[s]``.  ``values[k]`` is a reading of slot
    ``value_slots[k]`` (on the tensor's device; empty when no probe asked for values): its max,
    or from ``strict_from`` on its min (see :func:`bad_reading`).
    """

    __slots__ = (
        "step",
        "grad_enabled",
        "exc",
        "stack",
        "memo",
        "values",
        "value_slots",
        "refs",
        "versions",
        "roles",
        "owners",
        "paths",
        "call_module",
        "call_parent",
        "call_inputs",
        "call_outputs",
        "keep",
        "call_args",
        "root_call",
        "leaf_slots",
        "strict_from",
        "deferred",
        "__weakref__",
    )

    def __init__(
        self, step: int, grad_enabled: bool, exc: BaseException | None, keep: bool | None = None,
        keep_calls: bool = False,
    ) -> None:
        self.step = step
        self.grad_enabled = grad_enabled
        self.exc = exc
        self.stack: list[int] = []
        self.memo: dict[int, int] = {}
        self.values: list[torch.Tensor] = []
        self.value_slots: list[int] = []
        self.refs: list[weakref.ref[torch.Tensor]] = []
        self.versions: list[int] = []
        self.roles: list[int] = []
        self.owners: list[int] = []
        self.paths: list[Path] = []
        self.call_module: list[int] = []
        self.call_parent: list[int] = []
        self.call_inputs: list[list[tuple[int, Path]]] = []
        self.call_outputs: list[list[tuple[int, Path]]] = []
        #: strong references to the slots' tensors while the pass runs (with grad enabled autograd
        #: saves most of them anyway; under no_grad they would be freed before the end-of-pass
        #: check could describe a culprit), cleared as soon as the pass has been handed to the
        #: probes; ``keep`` defaults to ``grad_enabled``
        self.keep: list[torch.Tensor] | None = [] if (grad_enabled if keep is None else keep) else None
        #: the outermost call's ``(args, kwargs)`` (a list of that one pair), kept like ``keep``
        #: when the sanitizer replays failures (``keep_calls``), so the failing forward can be run
        #: again op by op (a replay starts from the model's input: inner calls' arguments are not kept)
        self.call_args: list[tuple[tuple[Any, ...], dict[str, Any]]] | None = (
            [] if self.keep is not None and keep_calls else None
        )
        #: the outermost call's arguments, held weakly once the pass is over (for a backward replay)
        self.root_call: Any = None
        #: slots holding leaf tensors that require grad (their gradient hooks wait for the pass end)
        self.leaf_slots: list[int] = []
        #: ``values[strict_from:]`` are read where tensors leave the model: there ``-inf`` counts
        self.strict_from: int | None = None
        #: indexes into ``values`` still holding the (detached) tensor, not yet its reading: nothing
        #: can change those tensors in place before the recorder reads them (``Recorder.read_deferred``),
        #: at the latest when the outermost call returns
        self.deferred: list[int] = []

    def depth(self, call: int) -> int:
        depth = 0
        while self.call_parent[call] >= 0:
            call = self.call_parent[call]
            depth += 1
        return depth

    def output_node(self) -> tuple[Any, Path] | None:
        """The autograd node of the outermost call's first output that has one, with that output's
        path; ``None`` when no output carries a graph.  The node lives as long as the pass's graph."""
        for slot, path in self.call_outputs[0] if self.call_outputs else ():
            tensor = self.refs[slot]()
            node = None if tensor is None else tensor.grad_fn
            if node is not None:
                return node, path
        return None

    def consumers(self, slot: int) -> list[int]:
        """Calls that received ``slot`` as an input, in call order."""
        return [c for c, inputs in enumerate(self.call_inputs) if any(s == slot for s, _ in inputs)]

    def producers(self, slot: int) -> list[int]:
        """Calls that returned ``slot`` (a container returning its last child's output counts too)."""
        return [c for c, outputs in enumerate(self.call_outputs) if any(s == slot for s, _ in outputs)]


def bad_reading(value: float, strict: bool) -> bool:
    """Whether a host-side reading shows a problem: NaN or ``+inf`` (a max); also ``-inf`` where
    ``strict`` (a min where tensors leave the model, and gradients)."""
    return not math.isfinite(value) if strict else not value < math.inf


@dataclass
class BackwardWindow:
    """The gradients that arrived during one backward pass, in arrival order.

    ``entries[k]`` is ``(pass, slot)`` and ``values[k]`` the gradient's min or max (each gradient
    gives two entries in a row, on its device); any non-finite one is a bug.
    """

    values: list[torch.Tensor] = field(default_factory=list)
    entries: list[tuple[ForwardPass, int]] = field(default_factory=list)

    def passes(self) -> list[ForwardPass]:
        seen: dict[int, ForwardPass] = {}
        for fwd, _ in self.entries:
            seen.setdefault(id(fwd), fwd)
        return list(seen.values())
