"""Small shims over torch APIs that moved between the torch versions dlsan supports (>= 2.2)."""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any, Callable, TypeVar

import torch

try:
    from torch.compiler import is_compiling as _is_compiling
except ImportError:  # pragma: no cover - torch < 2.3
    from torch._dynamo import is_compiling as _is_compiling

_get_gradient_edge: Any
try:
    from torch.autograd.graph import get_gradient_edge as _get_gradient_edge
except ImportError:  # pragma: no cover - torch < 2.3
    _get_gradient_edge = None

is_compiling: Callable[[], bool] = _is_compiling

_set_code_exec_strategy: Any
try:  # older dynamo has no per-code frame actions: there the hooks stay as they are
    from torch._C._dynamo.eval_frame import _FrameAction, _FrameExecStrategy
    from torch._C._dynamo.eval_frame import set_code_exec_strategy as _set_code_exec_strategy
except ImportError:  # pragma: no cover
    _set_code_exec_strategy = None

F = TypeVar("F", bound=Callable[..., Any])

_queue_callback = torch.autograd.Variable._execution_engine.queue_callback

#: The id of the backward pass running in this thread (call only from inside it), so that
#: concurrent backward passes (threads) keep their gradients apart.  Older torch lacks it: there
#: the calling thread stands in, right for CPU backward, which runs in the thread that asked.
#: Bound directly, not wrapped: it is called once per gradient on the hot path.
graph_task_id: Callable[[], int] = getattr(torch._C, "_current_graph_task_id", threading.get_ident)


_task_id: Callable[[], int] | None = getattr(torch._C, "_current_graph_task_id", None)


def in_backward() -> bool:
    """Whether the calling thread runs inside the autograd engine (a backward pass), where
    activation checkpointing recomputes forward passes.  Older torch cannot tell: ``False``."""
    return _task_id is not None and _task_id() >= 0


def local_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """A DTensor's local shard (FSDP2 parameters and gradients), any other tensor as it is.  Only
    a program that imported DTensor can hold one, so nothing is imported here."""
    if type(tensor) is torch.Tensor or type(tensor) is torch.nn.Parameter:  # the usual case, at once
        return tensor
    for name in ("torch.distributed.tensor", "torch.distributed._tensor"):
        dtensor = getattr(sys.modules.get(name), "DTensor", None)
        if dtensor is not None and isinstance(tensor, dtensor):
            local: torch.Tensor = tensor.to_local()
            return local
    return tensor


def foreach_norm_float64(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """The 2-norm of each tensor, computed and returned in float64."""
    try:
        return list(torch._foreach_norm(tensors, 2, dtype=torch.float64))
    except TypeError:  # pragma: no cover - torch < 2.3 has no dtype argument
        return list(torch._foreach_norm([t.double() for t in tensors]))


def _amax_each(tensors: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:  # pragma: no cover - torch < 2.4
    return tuple(tensor.amax() for tensor in tensors)


#: The max of each tensor (NaN when it holds one), in one call: ``torch._foreach_max`` where torch
#: has it (2.4 on), else one ``amax`` each.
foreach_max: Callable[[list[torch.Tensor]], Any] = getattr(torch, "_foreach_max", _amax_each)


def queue_callback(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the running backward pass has finished (call only from inside it)."""
    _queue_callback(callback)


def leaf_grad_node(tensor: torch.Tensor) -> tuple[Any, int] | None:
    """The gradient accumulator of a leaf tensor, and the index its gradient arrives at.

    A non-leaf tensor's gradient arrives at ``tensor.grad_fn`` (index ``tensor.output_nr``); a
    leaf's at its accumulator node, which only ``get_gradient_edge`` exposes.
    """
    if _get_gradient_edge is None:  # pragma: no cover - torch < 2.3
        return None
    edge = _get_gradient_edge(tensor)
    return edge.node, edge.output_nr


def eager_only(hook: F) -> F:
    """Mark ``hook`` (a function, bound method or ``functools.partial``) so that dynamo never
    compiles it as a frame of its own: called from code that runs eagerly inside a
    ``torch.compile``d call (a module after a graph break, or one dynamo cannot trace, such as an
    LSTM), it runs eagerly, and so does everything it calls, exactly as without ``torch.compile``.

    Unmarked, dynamo would trace the hook as a new frame, where ``is_compiling()`` is true, so the
    compiled hook would skip its own checks on a module that in fact ran eagerly.  Inside a graph
    dynamo traces, the hook is still inlined (``is_compiling()`` makes it a no-op there, with no
    graph break): the mark only applies where a frame starts.  Returns ``hook``."""
    code = _code_of(hook)
    if code is not None and _set_code_exec_strategy is not None:
        _set_code_exec_strategy(code, _FrameExecStrategy(_FrameAction.SKIP, _FrameAction.SKIP))
    return hook


def builtin_forward_stays_eager(module_type: type[Any]) -> None:
    """Keep dynamo from compiling PyTorch's own ``module_type.forward`` as a frame of its own.

    A plain model's ``nn.Linear`` (any module of ``torch.nn`` / ``torch.ao``) that runs eagerly
    inside a compiled call, after a graph break, stays eager: dynamo starts no frame in PyTorch's
    files.  Once the module has forward hooks, recent dynamo makes an exception and
    (torch 2.13's ``trace_rules``) compiles its ``forward`` as a graph of its own, in case a hook broke the graph; dlsan's hooks
    never do, so that exception would only change which code is compiled (and, under inductor,
    which random numbers dropout draws).  The mark is per class and process-wide: a module of the
    class that has someone else's hooks runs eagerly there too, as it would without hooks (it
    does not change what any traced graph holds: dynamo still inlines ``forward`` inside one)."""
    if _set_code_exec_strategy is None or not module_type.__module__.startswith(("torch.nn.", "torch.ao.")):
        return
    code = _code_of(getattr(module_type, "forward", None))
    if code is not None:
        _set_code_exec_strategy(code, _FrameExecStrategy(_FrameAction.SKIP, _FrameAction.DEFAULT))


def in_compiled_module() -> bool:
    """Whether a ``torch.compile(model)`` wrapper's call is running (its eager parts included).

    Dynamo guards on the number of hooks each module has, so a hook removed after the first
    compiled call recompiles every frame that ran the module: probes that drop hooks they no
    longer need (to save eager time) keep them, inert, while this is true."""
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")  # not imported: nothing is compiled
    running = getattr(eval_frame, "_is_in_optimized_module", None)
    return bool(running is not None and running())


def _code_of(function: Any) -> Any:
    """The code object behind a function, bound method or ``functools.partial`` (else ``None``)."""
    while isinstance(function, functools.partial):
        function = function.func
    function = getattr(function, "__func__", function)
    return getattr(function, "__code__", None)
