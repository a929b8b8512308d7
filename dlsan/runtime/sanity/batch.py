"""The batch ``(inputs, targets)`` that :func:`dlsan.sanity_check` feeds: walking, copying, calling.

Inputs and targets are tensors or (nested) tuples, lists and dicts of tensors.  The model is called
as ``model(*inputs)`` for a tuple or list, ``model(**inputs)`` for a dict and ``model(inputs)``
otherwise; the batch dimension is dimension 0 of every input tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import torch
from torch import nn

TensorFn = Callable[[torch.Tensor], Any]


def map_tensors(value: Any, fn: TensorFn) -> Any:
    """``value`` with every tensor in it replaced by ``fn(tensor)`` (containers rebuilt, rest kept)."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, Mapping):
        return {key: map_tensors(item, fn) for key, item in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(map_tensors(item, fn) for item in value))
    if isinstance(value, (list, tuple)):
        return type(value)(map_tensors(item, fn) for item in value)
    return value


def tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor in ``value``, in order."""
    found: list[torch.Tensor] = []
    map_tensors(value, found.append)
    return found


def split_batch(batch: Any) -> tuple[Any, Any]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError("batch must be a pair (inputs, targets) as the model and the loss take them")
    return batch[0], batch[1]


def batch_size(inputs: Any) -> int:
    """The size of dimension 0 of the first input tensor (the batch dimension)."""
    for tensor in tensors(inputs):
        if tensor.dim() > 0:
            return int(tensor.shape[0])
    raise ValueError("the inputs hold no tensor with a batch dimension")


def to_device(value: Any, device: torch.device) -> Any:
    """A copy of every tensor on ``device``: the caller's batch is never touched, even by an
    in-place operation inside the model."""
    return map_tensors(value, lambda t: t.detach().to(device, copy=True))


def call_model(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (list, tuple)) and not hasattr(inputs, "_fields"):
        return model(*inputs)
    return model(inputs)


def zeroed(inputs: Any) -> Any:
    """The inputs with the data replaced by zeros: floating tensors if there are any (masks and
    lengths, usually integer, are kept), else every integer tensor (token ids become id 0)."""
    has_float = any(t.is_floating_point() for t in tensors(inputs))

    def zero(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.is_floating_point() or (not has_float and tensor.dtype != torch.bool):
            return torch.zeros_like(tensor)
        return tensor

    return map_tensors(inputs, zero)


def describe(value: Any) -> str:
    """Shapes of the tensors in ``value``, e.g. ``(8, 10)`` or ``{logits: (8, 10), aux: (8,)}``."""
    if isinstance(value, torch.Tensor):
        return shape_text(value.shape)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {describe(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(describe(item) for item in value) + "]"
    return type(value).__name__


def shape_text(shape: torch.Size | tuple[int, ...]) -> str:
    dims = tuple(int(d) for d in shape)
    return f"({dims[0]},)" if len(dims) == 1 else str(dims)
