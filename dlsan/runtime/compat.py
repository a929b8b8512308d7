"""Small shims over torch APIs that moved between the torch versions dlsan supports (>= 2.2)."""

from __future__ import annotations

import threading
from typing import Any, Callable

import torch

try:
    from torch.compiler import is_compiling as _is_compiling
except ImportError:  # pragma: no cover - torch < 2.3
    from torch._dynamo import is_compiling as _is_compiling

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
