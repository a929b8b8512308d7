"""Module hooks that fill the tape (:mod:`dlsan.runtime.tape`): the sanitizer's hot path.

Cost rules, because these run for every module call of every step:

* no host synchronisation: the only device work is one reduction per new tensor value and one
  gradient pre-hook per tensor that requires grad.  The reductions are exact for finite values of
  any magnitude (a sum is not: ``finfo.min`` attention masks sum to ``-inf``): ``amax`` in the
  forward pass (NaN or ``+inf`` in, NaN or ``+inf`` out; as cheap as ``sum``, where the full
  ``max()`` takes about a third longer on the CPU, whose kernel also tracks an index, and
  ``isfinite(t).all()`` several times more) and ``aminmax`` for gradients, where ``-inf``
  counts too (see :mod:`dlsan.runtime.tape` for why ``-inf`` is accepted inside the model);
* a tensor passed from one module to the next is reduced once (found again by ``id`` + version),
  and outputs of finite-preserving modules are not reduced at all;
* as few Python calls per module call as the tape allows: one hook, after the call, for leaf
  modules of PyTorch's own that leave their inputs alone (``nn.Linear``, ``nn.Conv2d``...), and no
  hook for absorbing activations between the children of an ``nn.Sequential``;
* no tensor outlives the forward pass (weak references, plus strong ones while it runs);
* under ``torch.compile`` tracing the hooks do nothing, so they never break the graph; where a
  compiled call runs a module eagerly (after a graph break), its hooks run eagerly too and the
  compiled graphs are the plain model's (see :func:`~dlsan.runtime.compat.eager_only`).

Threads may call the model concurrently: each thread records its own forward pass (thread-local
``current``), and gradients are gathered per autograd graph task, so concurrent passes never mix.

The recorder reports three events to its *listener* (the sanitizer's
:class:`~dlsan.runtime.host.Router`): ``forward_begin(pass)``, ``forward_end(pass)`` when the
outermost instrumented call returns, and ``backward_end(window)`` from ``queue_callback`` once the
autograd engine has finished.
"""

from __future__ import annotations

import sys
import threading
import weakref
from functools import partial
from typing import Any, Callable, Protocol

import torch
from torch import nn

from dlsan.runtime.compat import (
    builtin_forward_stays_eager,
    eager_only,
    foreach_max,
    graph_task_id,
    in_backward,
    is_compiling,
    leaf_grad_node,
    queue_callback,
)
from dlsan.runtime.findings import SanitizerError
from dlsan.runtime.replay import WeakCall
from dlsan.runtime.structure import Path, tensors_in
from dlsan.runtime.tape import INPUT, NO_VERSION, OUTPUT, BackwardWindow, ForwardPass

_STRIDED = torch.strided
_weak = weakref.ref
# _observe modes (bits)
NO_SUM = 1  # a finite-preserving module's output: finite whenever its inputs are
NO_GRADIENT = 4  # only a finite-preserving module consumes it: its gradient is finite when theirs is
DEFER = 8  # nothing changes it in place before the next hook: its reading may wait (SequencePlan.defer_after)
#: CPU tensors above this many elements are read by ``amax`` of their own, not in a
#: ``_foreach_max`` batch (see :meth:`Recorder.read_deferred`; 16x32x64 activations, 32k elements,
#: already read faster one by one here)
_FOREACH_MAX_NUMEL = 16384
_ARG0: Path = ("args", 0)
_OUTPUT: Path = ("output",)

#: Module types that never output NaN or ``+inf`` when their inputs hold neither (finite values
#: and ``-inf``, which is accepted inside the model), and whose input gradient is finite when their
#: output gradient is: no parameters, magnitude never grows.  Exact types only: a subclass may
#: override ``forward``.  Left out on purpose: Dropout (scales up by 1/(1-p)), LogSoftmax (large
#: negative outputs overflow fp16), SELU (scale > 1), Upsample (bicubic overshoots), PReLU (learned
#: slope), and those that turn ``-inf`` into NaN: GELU, SiLU, Mish, Hardswish (``-inf * 0``),
#: Softsign (``-inf / inf``), Softmax/Softmin (a row of ``-inf``, a fully masked row).
FINITE_PRESERVING: frozenset[type[nn.Module]] = frozenset(
    {
        nn.Identity, nn.Flatten, nn.Unflatten,
        nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Hardsigmoid,
        nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
        nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
        nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
        nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    }
)  # fmt: skip

GradObserver = Callable[[ForwardPass, int, torch.Tensor], None]


def finite_preserving(module: nn.Module) -> bool:
    kind = type(module)
    if isinstance(module, nn.LeakyReLU):  # a slope of 0 gives -inf * 0 = NaN, a negative one -inf -> +inf
        return kind is nn.LeakyReLU and 0 < module.negative_slope <= 1
    if isinstance(module, (nn.ELU, nn.CELU)):
        return kind in (nn.ELU, nn.CELU) and abs(module.alpha) <= 1
    return kind in FINITE_PRESERVING


#: Finite-preserving module types that also turn ``-inf`` into a finite value: inside an exact
#: ``nn.Sequential`` the recorder does not hook them at all (see :class:`SequencePlan`).
ABSORBING: frozenset[type[nn.Module]] = frozenset({nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Hardsigmoid})


class SequencePlan:
    """What ``nn.Sequential.forward`` guarantees, precomputed per module index.

    ``Sequential.forward`` hands each child's output to the next child and to nothing else, so:

    * ``output_flags[i] = (sequence, NO_GRADIENT)``: child ``i``'s successor is finite-preserving,
      which cannot turn finite gradients into non-finite ones, so the gradient of ``i``'s output
      needs no check of its own;
    * ``unhooked``: absorbing children (:data:`ABSORBING`: ReLU, sigmoid, tanh...) that are not the
      last child are not hooked: they cannot make NaN or ``+inf`` from finite input, and no
      ``-inf`` passes through them, so their output can never be the first bad value (nor lead
      the ``-inf`` tracing of :mod:`dlsan.runtime.localise` astray).  Their output reaches the
      next child as an input nobody returned;
    * ``input_flags[j] = (sequence, mode)``: child ``j`` follows an unhooked one, so its input is
      that child's output: no reading (``NO_SUM``), and no gradient check either when ``j`` is
      itself finite-preserving (``NO_GRADIENT``), exactly as the unhooked child's output had;
    * ``defer_after[i] = sequence`` and ``defer_start``: the code that runs after child ``i``'s
      call (or from the start of the sequence's ``forward``) until the recorder's next hook cannot
      change a tensor in place: the unhooked children in between have no ``inplace=True``, and
      the next hooked child is seen before its ``forward`` runs or is a PyTorch leaf that leaves
      its inputs alone (:func:`_records_after_the_call`).  The readings of the values seen there
      may wait for the next hook, and so be taken several at once (see
      :meth:`Recorder.read_deferred`): they still read what the tensors held when seen.  An
      in-place child (``ReLU(inplace=True)``), a child the recorder does not watch, or, outside
      ``nn.Sequential``, the user's own code between calls, make the readings be taken at once.

    Each flag holds only while the call's parent is that ``Sequential`` call (a module may also be
    called from elsewhere), and only for modules that appear once among the sequences' children.
    """

    def __init__(self, modules: list[nn.Module], excluded: frozenset[int] = frozenset()) -> None:
        index_of = {id(module): index for index, module in enumerate(modules)}
        sequences = [
            (index, list(module.children())) for index, module in enumerate(modules) if type(module) is nn.Sequential
        ]
        seen: dict[int, int] = {}
        for _, children in sequences:
            for child in children:
                seen[id(child)] = seen.get(id(child), 0) + 1
        self.output_flags: dict[int, tuple[int, int]] = {}
        self.input_flags: dict[int, tuple[int, int]] = {}
        self.unhooked: set[int] = set()
        for sequence, children in sequences:
            for child, successor in zip(children, children[1:]):
                index = index_of.get(id(child))
                if index is None:
                    continue
                if finite_preserving(successor):
                    self.output_flags.setdefault(index, (sequence, NO_GRADIENT))
                after = index_of.get(id(successor))
                if (
                    type(child) in ABSORBING
                    and after is not None
                    and seen[id(child)] == seen[id(successor)] == 1
                    and not {index, after} & excluded
                ):
                    self.unhooked.add(index)
                    self.input_flags[after] = (sequence, NO_SUM | (NO_GRADIENT if finite_preserving(successor) else 0))
        self.defer_after: dict[int, int] = {}
        self.defer_start: set[int] = set()
        for sequence, children in sequences:
            if self._nothing_in_place(children, index_of):
                self.defer_start.add(sequence)
            for position, child in enumerate(children):
                index = index_of.get(id(child))
                if index is not None and seen[id(child)] == 1 and self._nothing_in_place(children[position + 1 :], index_of):
                    self.defer_after[index] = sequence

    def _nothing_in_place(self, rest: list[nn.Module], index_of: dict[int, int]) -> bool:
        """Whether ``Sequential.forward`` running ``rest`` changes no tensor in place before the
        recorder's next hook: the children up to the first hooked one are unhooked (so watched,
        absorbing) and have no ``inplace=True``.  A hooked child is seen at its pre-hook, or it is a
        PyTorch leaf that leaves its inputs alone, seen once it returned; past the last child, the
        sequence's own hook comes next."""
        for child in rest:
            index = index_of.get(id(child))
            if index is None:
                return False  # not watched: anything may run
            if index not in self.unhooked:
                return True
            if getattr(child, "inplace", False):
                return False
        return True


class Listener(Protocol):
    """What the recorder reports to (the :class:`~dlsan.runtime.host.Router`)."""

    step: int

    def forward_begin(self, fwd: ForwardPass) -> None:
        """The outermost instrumented call is starting."""

    def forward_end(self, fwd: ForwardPass) -> None:
        """The outermost instrumented call returned; ``fwd`` is complete."""

    def backward_end(self, window: BackwardWindow) -> None:
        """The autograd engine finished a backward pass that went through the model."""


class _ThreadState(threading.local):
    """The forward pass the calling thread is in (class attributes are each thread's defaults)."""

    current: ForwardPass | None = None


class Recorder:
    """Installs one forward pre-hook and one forward hook per module (one hook after the call for
    leaf modules of PyTorch's own, none for absorbing activations inside an ``nn.Sequential``: see
    :func:`_records_after_the_call` and :class:`SequencePlan`) and keeps the current tape.

    ``reduce``: compute the per-slot readings (needed by the non-finite check).
    ``allow_neg_inf[i]``: module ``i`` may return ``-inf`` out of the model (masked logits); its
    outputs are not checked for ``-inf`` where they leave the model (see :func:`producer`).
    ``whole_calls``: indexes of modules hooked before and after their call whatever their kind
    (those with a shape contract, whose probe checks the inputs before the call).
    """

    def __init__(
        self,
        listener: Listener,
        modules: list[nn.Module],
        *,
        reduce: bool,
        allow_neg_inf: list[bool],
        keep_calls: bool = False,
        whole_calls: frozenset[int] = frozenset(),
    ) -> None:
        self._listener = weakref.ref(listener)
        self.reduce = reduce
        #: keep the outermost call's arguments while a grad-enabled pass runs (``ForwardPass.call_args``)
        self.keep_calls = keep_calls
        #: record nothing new (set while dlsan itself replays a module, see dlsan.runtime.replay)
        self.paused = False
        self.allow_neg_inf = allow_neg_inf
        #: per module, the _observe mode of its outputs (NO_SUM for finite-preserving modules)
        self.output_modes = [NO_SUM if finite_preserving(module) else 0 for module in modules]
        self.plan = plan = SequencePlan(modules, whole_calls)
        self.active = True
        self._thread = _ThreadState()
        self.grad_observers: list[GradObserver] = []
        #: per running backward pass (graph task id): the gradient sums and their (pass, slot)
        self._pending: dict[int, tuple[list[torch.Tensor], list[tuple[ForwardPass, int]]]] = {}
        self._handles: list[Any] = []
        #: per module recorded by one hook after its call: the probes' hooks that hook runs too
        #: (see :meth:`ride`), keyed by ``id(module)`` for the modules that have such a hook
        self._riders: dict[int, list[Callable[..., None]]] = {}
        self._self_ref = self_ref = weakref.ref(self)
        for index, module in enumerate(modules):
            builtin_forward_stays_eager(type(module))
            if index in plan.unhooked:
                continue
            if index and index not in whole_calls and _records_after_the_call(module):
                riders = self._riders[id(module)] = []
                hook = _make_leaf_hook(self_ref, index, riders)
                self._handles.append(module.register_forward_hook(hook, with_kwargs=True))
                continue
            pre, post = _make_hooks(self_ref, index)
            self._handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
            self._handles.append(module.register_forward_hook(post, always_call=True))

    def ride(self, module: nn.Module, hook: Callable[..., None]) -> RemovableRider | None:
        """Run ``hook(module, args, output)`` from the core's own hook of ``module``, after the
        core recorded the call.  Only for modules the core records with one hook after the call
        (PyTorch leaves that leave their inputs alone, see :func:`_records_after_the_call`), whose
        inputs after the call are what the call received, so a hook reading the inputs sees the
        same tensors as a pre-hook would; ``None`` for the others.  One Python hook per module call
        instead of one per probe, never while compiling (the core's hook returns first then).
        The rider's ``remove()`` takes it off."""
        riders = self._riders.get(id(module))
        if riders is None:
            return None
        riders.append(hook)
        return RemovableRider(riders, hook)

    def pause(self, paused: bool) -> None:
        """Record nothing while ``paused`` (dlsan's own replay of a forward pass)."""
        self.paused = paused

    @property
    def current(self) -> ForwardPass | None:
        """The forward pass the calling thread is in, if any."""
        return self._thread.current

    def remove(self) -> None:
        self.active = False
        self._thread = _ThreadState()
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for riders in self._riders.values():
            riders.clear()
        self._pending.clear()

    # -- forward -------------------------------------------------------------------------------

    def enter(self, index: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        state = self._thread
        fwd = state.current
        if fwd is None:
            listener = self._listener()
            if listener is None or self.paused or torch._C._get_tracing_state() is not None or in_backward():
                # in backward: activation checkpointing recomputing a forward it has already seen
                return
            fwd = state.current = ForwardPass(
                listener.step,
                torch.is_grad_enabled(),
                sys.exc_info()[1],
                keep=self.reduce or torch.is_grad_enabled(),
                keep_calls=self.keep_calls,
            )
            if fwd.call_args is not None:
                fwd.call_args.append((args, kwargs))
            listener.forward_begin(fwd)
        stack = fwd.stack
        defer = DEFER if index in self.plan.defer_start else 0
        call = self._open_call(fwd, index, stack[-1] if stack else -1, args, kwargs, defer)
        stack.append(call)
        if not defer and fwd.deferred:
            self.read_deferred(fwd)  # the module's own code runs next

    def leaf_call(self, index: int, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        """A call of a module that has no sub-modules and leaves its inputs as they were (see
        :func:`_records_after_the_call`), recorded once it returned: its inputs and outputs, in the
        order ``enter`` and ``leave`` would have seen them, at the cost of one hook.  Called outside
        a forward pass (the module run on its own), it is the outermost call: ``enter`` + ``leave``."""
        fwd = self._thread.current
        if fwd is None or not fwd.stack:
            self.enter(index, args, kwargs)
            self.leave(index, output)
            return
        parent = fwd.stack[-1]
        defer = self._defer_after(fwd, index, parent)
        self._close_call(fwd, index, self._open_call(fwd, index, parent, args, kwargs, defer), parent, output, defer)
        if not defer and fwd.deferred:
            self.read_deferred(fwd)

    def _defer_after(self, fwd: ForwardPass, index: int, parent: int) -> int:
        """``DEFER`` when nothing can change a tensor in place between the end of module
        ``index``'s call (under ``parent``) and the recorder's next hook (see :class:`SequencePlan`)."""
        sequence = self.plan.defer_after.get(index)
        return DEFER if sequence is not None and parent >= 0 and fwd.call_module[parent] == sequence else 0

    def read_deferred(self, fwd: ForwardPass) -> None:
        """Take the readings that waited (``fwd.deferred``) at once: one ``_foreach_max`` call
        for all of them, where each would otherwise have cost a reduction of its own when seen.
        Large CPU tensors are read one ``amax`` each: there the CPU's ``_foreach_max`` kernel
        takes about 1.7 times as long as ``amax`` (a 32x16x32x32 conv output: 105 vs 52 us),
        and the call it saves is worth a few microseconds."""
        deferred, fwd.deferred = fwd.deferred, []
        values = fwd.values
        batch = []
        for at in deferred:
            tensor = values[at]
            if tensor.is_cpu and tensor.numel() > _FOREACH_MAX_NUMEL:
                values[at] = tensor.amax()
            else:
                batch.append(at)
        if len(batch) == 1:
            values[batch[0]] = values[batch[0]].amax()
        elif batch:
            for at, reading in zip(batch, foreach_max([values[at] for at in batch])):
                values[at] = reading

    def _open_call(
        self, fwd: ForwardPass, index: int, parent: int, args: tuple[Any, ...], kwargs: dict[str, Any], defer: int
    ) -> int:
        """Add a call of module ``index`` under ``parent`` to the tape and observe its inputs."""
        call = len(fwd.call_module)
        fwd.call_module.append(index)
        fwd.call_parent.append(parent)
        fwd.call_outputs.append([])
        inputs: list[tuple[int, Path]] = []
        fwd.call_inputs.append(inputs)
        flags = self.plan.input_flags.get(index)
        mode = defer | (flags[1] if flags is not None and parent >= 0 and fwd.call_module[parent] == flags[0] else 0)
        if not kwargs and len(args) == 1 and isinstance(args[0], torch.Tensor):
            slot = self._observe(fwd, args[0], call, INPUT, _ARG0, mode)
            if slot >= 0:
                inputs.append((slot, _ARG0))
            return call
        for path, tensor in tensors_in(args, ("args",)) + tensors_in(kwargs, ("kwargs",)):
            slot = self._observe(fwd, tensor, call, INPUT, path, mode)
            if slot >= 0:
                inputs.append((slot, path))
        return call

    def _close_call(self, fwd: ForwardPass, index: int, call: int, parent: int, output: Any, defer: int) -> None:
        """Observe what call ``call`` of module ``index`` (under ``parent``) returned."""
        mode = defer | self.output_modes[index]
        flags = self.plan.output_flags.get(index)
        if flags is not None and parent >= 0 and fwd.call_module[parent] == flags[0]:
            mode |= flags[1]
        if isinstance(output, torch.Tensor):
            slot = self._observe(fwd, output, call, OUTPUT, _OUTPUT, mode)
            if slot >= 0:
                fwd.call_outputs[call].append((slot, _OUTPUT))
        elif output is not None:
            outputs = fwd.call_outputs[call]
            for path, tensor in tensors_in(output, ("output",)):
                slot = self._observe(fwd, tensor, call, OUTPUT, path, mode)
                if slot >= 0:
                    outputs.append((slot, path))

    def leave(self, index: int, output: Any) -> None:
        state = self._thread
        fwd = state.current
        if fwd is None or not fwd.stack:
            return
        call = fwd.stack.pop()
        parent = fwd.stack[-1] if fwd.stack else -1
        defer = self._defer_after(fwd, index, parent) if parent >= 0 else DEFER  # the pass ends here
        self._close_call(fwd, index, call, parent, output, defer)
        if fwd.deferred and (not defer or parent < 0):
            self.read_deferred(fwd)
        if not fwd.stack:
            state.current = None
            listener = self._listener()
            if self.reduce:
                self._read_escapes(fwd)
            try:
                # an exception in flight that was not there at the start: the forward raised and
                # its tape is incomplete, so it is dropped (the user's error is what matters)
                if sys.exc_info()[1] is fwd.exc and listener is not None:
                    if fwd.leaf_slots:
                        self._hook_leaves(fwd)
                    if fwd.grad_enabled and not (self.reduce or self.grad_observers):
                        self._hook_outputs(fwd)
                    listener.forward_end(fwd)
            finally:
                if fwd.call_args:
                    output = fwd.output_node()
                    fwd.root_call = WeakCall(*fwd.call_args[0], graph=None if output is None else output[0])
                fwd.keep = fwd.call_args = None

    def _observe(self, fwd: ForwardPass, tensor: torch.Tensor, call: int, role: int, path: Path, mode: int) -> int:
        key = id(tensor)
        slot = fwd.memo.get(key)
        if tensor.is_inference():  # no version counter (version_of(), inlined: hot)
            version = NO_VERSION
            if slot is not None and role == OUTPUT and any(s == slot for s, _ in fwd.call_inputs[call]):
                # in-place changes are invisible: a module returning its own input gets a fresh sum
                slot = None
        else:
            version = tensor._version
        if slot is not None and fwd.versions[slot] == version and fwd.refs[slot]() is tensor:
            return slot
        if not tensor.is_floating_point() or tensor.layout is not _STRIDED or tensor.is_nested:
            return -1
        slot = len(fwd.roles)
        if self.reduce and not mode & NO_SUM and tensor.numel():
            # amax: NaN or +inf anywhere shows, finite values of any size never overflow it
            values = fwd.values
            if mode & DEFER:
                fwd.deferred.append(len(values))
                values.append(tensor.detach())  # read by read_deferred, before anything changes it
            else:
                values.append(tensor.detach().amax())
            fwd.value_slots.append(slot)
        fwd.refs.append(_weak(tensor))
        fwd.versions.append(version)
        fwd.roles.append(role)
        fwd.owners.append(call)
        fwd.paths.append(path)
        fwd.memo[key] = slot
        if fwd.keep is not None:
            fwd.keep.append(tensor)
        if tensor.requires_grad and (self.grad_observers or (self.reduce and not mode & NO_GRADIENT)):
            self._hook_gradient(fwd, tensor, slot)
        return slot

    # -- backward ------------------------------------------------------------------------------

    def _read_escapes(self, fwd: ForwardPass) -> None:
        """Where tensors leave the model, ``-inf`` counts as non-finite too (unless ``allow_inf``
        names the module that produced it): one ``min`` per output of the outermost call, read
        after every other value of the pass (``fwd.strict_from``)."""
        fwd.strict_from = len(fwd.values)
        for slot, _ in fwd.call_outputs[0]:
            module = producer(fwd, slot)
            tensor = fwd.refs[slot]()
            if module is None or self.allow_neg_inf[module] or tensor is None or not tensor.numel():
                continue
            fwd.values.append(tensor.detach().amin())
            fwd.value_slots.append(slot)

    def _hook_gradient(self, fwd: ForwardPass, tensor: torch.Tensor, slot: int) -> None:
        # A pre-hook on the node that produced the tensor sees the gradient of the value this
        # module produced, even when a later in-place module (ReLU(inplace=True)) gives the
        # tensor a new grad_fn; full backward hooks (register_full_backward_hook) fail outright
        # there.  Node hooks also cost half of Tensor.register_hook and die with the graph.
        node = tensor.grad_fn
        if node is not None:
            node.register_prehook(partial(_on_gradient, self._self_ref, fwd, slot, tensor.output_nr))
        elif fwd.grad_enabled:
            fwd.leaf_slots.append(slot)  # hooked at the end of the pass, see _hook_leaves

    def _hook_outputs(self, fwd: ForwardPass) -> None:
        # Without per-slot gradients, the model's outputs alone still tell when a backward
        # pass went through the model (step counting, probes' on_backward_end).
        for slot, _ in fwd.call_outputs[0]:
            tensor = fwd.refs[slot]()
            if tensor is not None and tensor.grad_fn is not None:
                node = tensor.grad_fn
                node.register_prehook(partial(_on_gradient, self._self_ref, fwd, slot, tensor.output_nr))

    def _hook_leaves(self, fwd: ForwardPass) -> None:
        # A leaf's gradient accumulator is created on demand and held only by the graph: hooked
        # before the graph uses the leaf, it would die and be replaced by a fresh one.
        for slot in fwd.leaf_slots:
            tensor = fwd.refs[slot]()
            edge = None if tensor is None else leaf_grad_node(tensor)
            if edge is not None:
                node, index = edge
                node.register_prehook(partial(_on_gradient, self._self_ref, fwd, slot, index))

    @eager_only  # the autograd engine calls it, maybe inside a compiled call's eager part
    def _backward_done(self, task: int) -> None:
        __tracebackhide__ = True
        values, entries = self._pending.pop(task, ([], []))
        listener = self._listener()
        if self.active and listener is not None:
            try:
                listener.backward_end(BackwardWindow(values, entries))
            except SanitizerError as error:
                raise error.with_traceback(None)  # noqa: B904  # the same error, its traceback ending at the user's backward() call (`from` would replace its cause)


def producer(fwd: ForwardPass, slot: int) -> int | None:
    """The index of the module whose code made ``slot``: the module that returned it, or the
    parent whose own code passed it to a sub-module; ``None`` for the model's input."""
    owner = fwd.owners[slot]
    if fwd.roles[slot] == OUTPUT:
        return fwd.call_module[owner]
    parent = fwd.call_parent[owner]
    return None if parent < 0 else fwd.call_module[parent]


def _records_after_the_call(module: nn.Module) -> bool:
    """Whether one forward hook, after the call, records ``module``'s call as a pre-hook and a
    hook would: a module of PyTorch's own with no sub-modules (so no call starts inside it) that
    does not change its inputs in place (``inplace=True`` modules do, and so may user code), so its
    inputs still hold what it received.  Modules watched from the start of their call (the model
    itself, those with a shape contract) keep both hooks."""
    return (
        not module._modules
        and type(module).__module__.startswith("torch.nn.modules.")
        and not getattr(module, "inplace", False)
    )


class RemovableRider:
    """The handle of a hook run by the core's hook of a module (see :meth:`Recorder.ride`)."""

    def __init__(self, riders: list[Callable[..., None]], rider: Callable[..., None]) -> None:
        self._riders = riders
        self._rider = rider

    def remove(self) -> None:
        if self._rider in self._riders:
            self._riders.remove(self._rider)


def _make_leaf_hook(
    recorder_ref: weakref.ref[Recorder], index: int, riders: list[Callable[..., None]]
) -> Callable[..., None]:
    """The one hook of a module recorded after its call (see :func:`_records_after_the_call`),
    which also runs the probes' hooks that ride on it (see :meth:`Recorder.ride`)."""

    @eager_only
    def leaf_hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        if is_compiling():
            return
        recorder = recorder_ref()
        if recorder is not None:
            recorder.leaf_call(index, args, kwargs, output)
            for rider in riders:
                rider(module, args, output)

    return leaf_hook


def _make_hooks(recorder_ref: weakref.ref[Recorder], index: int) -> tuple[Callable[..., None], Callable[..., None]]:
    """Closure factory: each module gets hooks bound to its index and a weak recorder reference."""

    @eager_only
    def pre_hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if is_compiling():  # first: anything read while tracing becomes a guard
            return
        recorder = recorder_ref()
        if recorder is not None:
            recorder.enter(index, args, kwargs)

    @eager_only
    def post_hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        __tracebackhide__ = True
        if is_compiling():
            return
        recorder = recorder_ref()
        if recorder is not None:
            try:
                recorder.leave(index, output)
            except SanitizerError as error:
                raise error.with_traceback(None)  # noqa: B904  # the same error, its traceback ending where the user's code called the model

    return pre_hook, post_hook


@eager_only
def _on_gradient(
    recorder_ref: weakref.ref[Recorder],
    fwd: ForwardPass,
    slot: int,
    index: int,
    grad_outputs: tuple[torch.Tensor | None, ...],
) -> None:
    """The gradient of ``slot`` arrived (the autograd engine calls this node pre-hook): its min
    and max join the backward pass's readings.  One function, no method call: it runs for every
    checked gradient."""
    recorder = recorder_ref()
    grad = grad_outputs[index]
    if recorder is None or not recorder.active or grad is None:
        return
    task = graph_task_id()
    pending = recorder._pending.get(task)
    if pending is None:
        pending = recorder._pending[task] = ([], [])
        queue_callback(partial(recorder._backward_done, task))
    if recorder.reduce and grad.numel() and grad.layout is _STRIDED and not grad.is_nested:
        # a gradient carries a graph only under backward(create_graph=True); aminmax: any
        # NaN or +-inf shows in its min or max, and finite values never overflow them
        flat = grad.detach() if grad.requires_grad else grad
        pending[0].extend(torch.aminmax(flat))
        entry = (fwd, slot)
        pending[1].extend((entry, entry))
    for observer in recorder.grad_observers:
        observer(fwd, slot, grad)
