"""What every sanity check shares: fresh copies of the model, the batch on the device, the loss,
the optimizer factory and the training runs that more than one check reads.

Each check starts from its own deep copy of the caller's model (taken once, before anything ran,
so every check sees the same initial weights); the caller's model, optimizer and batch are only
read.  Training runs are seeded, so the run on zeroed inputs and the run on real inputs start from
the same weights and the same dropout masks.
"""

from __future__ import annotations

import copy
import inspect
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from dlsan.runtime.sanity.batch import call_model, describe, split_batch, tensors, to_device, zeroed
from dlsan.runtime.sanity.loss import LossCall, LossInputError, LossRecorder
from dlsan.runtime.sanity.thresholds import DEFAULT_LR, SEED

OptimizerFactory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


@dataclass
class InitialPass:
    """The first forward and loss on a fresh copy: what the loss-related checks read."""

    output: Any
    loss: float | None
    calls: list[LossCall]
    error: str | None
    warnings: list[str]

    @property
    def output_text(self) -> str:
        return describe(self.output)


class Session:
    def __init__(
        self,
        model: nn.Module,
        batch: Any,
        loss_fn: Callable[..., Any],
        optimizer: OptimizerFactory | torch.optim.Optimizer | None,
        steps: int,
        device: torch.device,
    ) -> None:
        try:
            self._pristine = copy.deepcopy(model).to(device)
        except Exception as error:  # noqa: BLE001 - any failure to copy means the same to the caller
            raise TypeError(f"sanity_check works on a deep copy of the model, and copying failed: {error}") from error
        inputs, targets = split_batch(batch)
        self.inputs = to_device(inputs, device)
        self.targets = to_device(targets, device)
        self.loss_fn = loss_fn
        self.steps = steps
        self._optimizer = optimizer
        self._curves: dict[bool, list[float]] = {}
        self.initial = self._initial_pass()

    # -- models and optimizers -------------------------------------------------------------------

    def fresh_model(self, *, training: bool = True) -> nn.Module:
        """A new copy of the caller's model: in training mode with dropout off (Karpathy: no
        regularisation while checking the pipeline), or in eval mode."""
        model = copy.deepcopy(self._pristine)
        model.train(training)
        for module in model.modules():
            if isinstance(module, _DROPOUT):
                module.eval()
        return model

    def fresh_training(self) -> tuple[nn.Module, torch.optim.Optimizer]:
        """A fresh copy in training mode and an optimizer for it, torch seeded first."""
        torch.manual_seed(SEED)
        model = self.fresh_model()
        return model, self.make_optimizer(model)

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        params = [p for p in model.parameters() if p.requires_grad]
        spec = self._optimizer
        if spec is None:
            return torch.optim.Adam(params, lr=DEFAULT_LR)
        if isinstance(spec, torch.optim.Optimizer):  # a new one like it; the caller's is never stepped
            accepted = inspect.signature(type(spec)).parameters
            return type(spec)(params, **{k: v for k, v in spec.defaults.items() if k in accepted})
        return spec(params)

    # -- running ----------------------------------------------------------------------------------

    def loss(self, model: nn.Module, inputs: Any | None = None) -> torch.Tensor:
        output = call_model(model, self.inputs if inputs is None else inputs)
        value = self.loss_fn(output, self.targets)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise TypeError(f"loss_fn must return a scalar tensor, got {describe(value)}")
        return value.reshape(())

    def train(self, *, zero_inputs: bool = False) -> list[float]:
        """Losses of ``steps`` optimizer steps on the one batch, then the loss after the last one
        (``steps + 1`` values; shorter when the loss stops being finite).  Computed once per kind."""
        if zero_inputs not in self._curves:
            inputs = zeroed(self.inputs) if zero_inputs else self.inputs
            model, optimizer = self.fresh_training()
            curve: list[float] = []
            for _ in range(self.steps):
                optimizer.zero_grad(set_to_none=True)
                loss = self.loss(model, inputs)
                curve.append(float(loss.detach()))
                if not math.isfinite(curve[-1]):
                    break
                torch.autograd.backward(loss)
                optimizer.step()
            else:
                with torch.no_grad():
                    curve.append(float(self.loss(model, inputs)))
            self._curves[zero_inputs] = curve
        return self._curves[zero_inputs]

    @property
    def targets_constant(self) -> bool:
        """Every target in the batch is the same value (then a model without input fits it too)."""
        found = tensors(self.targets)
        return bool(found) and all(t.numel() > 0 and bool((t == t.reshape(-1)[0]).all()) for t in found)

    def _initial_pass(self) -> InitialPass:
        """Forward and loss once.  A model that cannot run on its batch is the caller's error and
        propagates; a loss that cannot be computed is what ``output-target-shapes`` reports."""
        torch.manual_seed(SEED)
        model = self.fresh_model()
        recorder = LossRecorder()
        with torch.no_grad():
            output = call_model(model, self.inputs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with torch.no_grad(), recorder:
                    value = self.loss_fn(output, self.targets)
            except LossInputError as error:
                return InitialPass(output, None, recorder.calls, str(error), [])
            except (RuntimeError, ValueError, IndexError, TypeError) as error:
                return InitialPass(output, None, recorder.calls, f"{type(error).__name__}: {error}", [])
        texts = [str(w.message) for w in caught if "target size" in str(w.message)]
        loss = float(value) if isinstance(value, torch.Tensor) and value.numel() == 1 else None
        problem = None if loss is not None else f"loss_fn must return a scalar tensor, got {describe(value)}"
        return InitialPass(output, loss, recorder.calls, problem, texts)
