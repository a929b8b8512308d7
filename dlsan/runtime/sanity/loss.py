"""What the loss function does, seen from inside: the ``torch.nn.functional`` losses it calls.

``loss_fn`` may be ``nn.CrossEntropyLoss()``, ``F.cross_entropy``, a lambda around ``F.mse_loss``
or a function summing several terms; in every case the known functional losses it calls, and the
exact tensors and options it passes them, are seen by a :class:`~torch.overrides.TorchFunctionMode`.
From a :class:`LossCall` the checks derive the chance-level loss (the loss of a uniform
prediction, computed by the same call so that class weights, ``ignore_index``, label smoothing
and the reduction are all taken into account), the lowest achievable loss, and whether output and
target fit together as that loss expects.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from dlsan.runtime.sanity.batch import shape_text

CLASSIFICATION = ("cross_entropy", "nll_loss")
BINARY = ("binary_cross_entropy_with_logits", "binary_cross_entropy")
ELEMENTWISE = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", *BINARY)
KNOWN: dict[Callable[..., Any], str] = {
    getattr(F, name): name for name in (*CLASSIFICATION, *ELEMENTWISE)
}
_EPS = 1e-12


class LossInputError(ValueError):
    """Output and target do not fit the loss; raised instead of running the loss kernel (on CUDA
    an out-of-range class index is a device-side assert that ends the process's use of the GPU)."""


@dataclass
class LossCall:
    """One call of a known functional loss: its name and its bound arguments."""

    name: str
    function: Callable[..., Any]
    arguments: dict[str, Any]

    @property
    def input(self) -> torch.Tensor:
        value: torch.Tensor = self.arguments["input"]
        return value

    @property
    def target(self) -> torch.Tensor:
        value: torch.Tensor = self.arguments["target"]
        return value

    def evaluate(self, prediction: torch.Tensor) -> float:
        """The loss this call computes with ``prediction`` in place of the model's output."""
        arguments = {**self.arguments, "input": prediction}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the caller saw torch's warnings about this call once
            return float(self.function(**arguments))

    @property
    def classes(self) -> int | None:
        if self.name not in CLASSIFICATION:
            return None
        return int(self.input.shape[0] if self.input.dim() == 1 else self.input.shape[1])

    def chance_loss(self) -> float | None:
        """The loss of a uniform prediction (ln C for cross-entropy, ln 2 for BCE), or ``None``
        where no chance level exists (regression losses)."""
        x = self.input.detach()
        if self.name == "cross_entropy" or self.name == "binary_cross_entropy_with_logits":
            return self.evaluate(torch.zeros_like(x))
        if self.name == "nll_loss":
            classes = self.classes or 1
            return self.evaluate(torch.full_like(x, -math.log(classes)))
        if self.name == "binary_cross_entropy":
            return self.evaluate(torch.full_like(x, 0.5))
        return None

    def prior_loss(self) -> float | None:
        """The loss of the best constant prediction, the batch's label frequencies (below the
        chance level when the labels are imbalanced; what a final bias initialised to the log
        prior starts at, as Karpathy's recipe advises)."""
        x, target = self.input.detach(), self.target.detach()
        if self.name in CLASSIFICATION:
            dim = 0 if x.dim() == 1 else 1
            classes = x.shape[dim]
            if target.is_floating_point():
                dims = [d for d in range(target.dim()) if d != dim]
                frequencies = target.to(x.dtype).mean(dim=dims) if dims else target.to(x.dtype)
            else:
                kept = target[target != self.arguments.get("ignore_index", -100)].clamp(0, classes - 1)
                if kept.numel() == 0:
                    return None
                frequencies = torch.bincount(kept.reshape(-1), minlength=classes).to(x.dtype) / kept.numel()
            shape = [1] * x.dim()
            shape[dim] = classes
            log_prior = frequencies.clamp_min(_EPS).log().reshape(shape).expand_as(x)
            return self.evaluate(log_prior)  # log-frequencies: logits for cross_entropy, log-probabilities for nll
        if self.name in BINARY and target.is_floating_point():
            mean = target.to(x.dtype).mean().clamp(_EPS, 1 - _EPS)
            constant = torch.logit(mean) if self.name == "binary_cross_entropy_with_logits" else mean
            return self.evaluate(constant.expand_as(x))
        return None

    def floor(self) -> float:
        """The lowest loss any prediction reaches: 0, except for smoothed or soft targets, where
        it is their entropy (computed by feeding the call the target distribution itself)."""
        ideal = self._ideal_prediction()
        return 0.0 if ideal is None else max(self.evaluate(ideal), 0.0)

    def _ideal_prediction(self) -> torch.Tensor | None:
        x, target = self.input.detach(), self.target.detach()
        if self.name == "cross_entropy":
            smoothing = float(self.arguments.get("label_smoothing") or 0.0)
            if not target.is_floating_point() and smoothing == 0.0:
                return None
            dim = 0 if x.dim() == 1 else 1
            classes = x.shape[dim]
            if target.is_floating_point():
                distribution = target.to(x.dtype)
            else:
                index = target.clamp(0, classes - 1).unsqueeze(dim)
                distribution = torch.zeros_like(x).scatter_(dim, index, 1.0)
            distribution = distribution * (1 - smoothing) + smoothing / classes
            return distribution.clamp_min(_EPS).log()
        if self.name == "binary_cross_entropy_with_logits" and target.is_floating_point():
            return torch.logit(target.to(x.dtype).clamp(_EPS, 1 - _EPS))
        if self.name == "binary_cross_entropy" and target.is_floating_point():
            return target.to(x.dtype)
        return None

    def problems(self) -> list[str]:
        """Ways output and target do not fit this loss (empty when they fit)."""
        x, target = self.input, self.target
        if self.name in CLASSIFICATION:
            return _class_target_problems(x, target, self.arguments.get("ignore_index", -100))
        found = []
        if tuple(x.shape) != tuple(target.shape):
            found.append(_shape_mismatch(x.shape, target.shape, self.name))
        if self.name in BINARY and target.numel() and target.is_floating_point():
            low, high = float(target.min()), float(target.max())
            if low < 0 or high > 1:
                found.append(f"{self.name} targets must lie in [0, 1], got {low:g}..{high:g}")
        return found


def _class_target_problems(x: torch.Tensor, target: torch.Tensor, ignore_index: int) -> list[str]:
    dim = 0 if x.dim() == 1 else 1
    classes = int(x.shape[dim])
    if target.is_floating_point():  # class probabilities: same shape as the output
        if tuple(x.shape) != tuple(target.shape):
            return [f"probability targets {shape_text(target.shape)} must have the output's shape {shape_text(x.shape)}"]
        return []
    expected = tuple(x.shape[:dim]) + tuple(x.shape[dim + 1 :])
    if tuple(target.shape) != expected:
        return [
            f"class-index targets {shape_text(target.shape)} do not fit the output {shape_text(x.shape)} "
            f"(expected targets {shape_text(expected)}, classes in dimension {dim})"
        ]
    kept = target[target != ignore_index]
    if kept.numel() == 0:
        return []
    low, high = int(kept.min()), int(kept.max())
    if low >= 0 and high < classes:
        return []
    text = f"class indices {low}..{high} but the output has {classes} classes (0..{classes - 1})"
    if low == 1 and high == classes:
        text += ": labels shifted by one (1-based)?"
    return [text]


def _shape_mismatch(output: Sequence[int], target: Sequence[int], name: str) -> str:
    out, tgt = shape_text(tuple(output)), shape_text(tuple(target))
    broadcast = _broadcast(tuple(output), tuple(target))
    if broadcast is None:
        return f"{name}: output {out} and target {tgt} have different shapes"
    return f"{name}: output {out} and target {tgt} silently broadcast to {shape_text(broadcast)}"


def _broadcast(first: tuple[int, ...], second: tuple[int, ...]) -> tuple[int, ...] | None:
    """The broadcast shape of two shapes (NumPy rules), or ``None`` when they do not broadcast."""
    width = max(len(first), len(second))
    padded = [(1,) * (width - len(shape)) + shape for shape in (first, second)]
    dims = []
    for a, b in zip(*padded):
        if a != b and 1 not in (a, b):
            return None
        dims.append(max(a, b) if 1 in (a, b) else a)
    return tuple(dims)


class LossRecorder(TorchFunctionMode):
    """Records the known functional losses called in its block, outermost calls only (a mode is
    switched off while its own ``__torch_function__`` runs).  A classification call whose targets
    do not fit the output raises :class:`LossInputError` before the loss runs."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[LossCall] = []

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        name = KNOWN.get(func)
        if name is not None:
            bound = inspect.signature(func).bind(*args, **kwargs)
            bound.apply_defaults()
            call = LossCall(name, func, dict(bound.arguments))
            self.calls.append(call)
            problems = call.problems() if name in CLASSIFICATION else []
            if problems:
                raise LossInputError("; ".join(problems))
        return func(*args, **kwargs)
