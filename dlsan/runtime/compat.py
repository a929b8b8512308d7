"""Small shims over torch APIs that moved between the torch versions dlsan supports (>= 2.2)."""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable

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
