"""Soak: 2,000 instrumented training steps leave no growing trail of Python objects or tensors.

A leak in the sanitizer grows with the step count (a tape, a hook or a finding kept per step), so
the census after the warm-up and at the end of the run must agree, type by type; bounded state
(the per-layer series behind plots, merged findings) settles during the warm-up.
"""

from __future__ import annotations

import gc
from collections import Counter

import pytest
import torch
from torch import nn

import dlsan

WARM_UP = 500
STEPS = 2000
#: objects of one type that may come and go between two censuses (interpreter caches, frames)
SLACK = 8


class Census:
    """Live gc-tracked objects by type, live tensors, and the bytes of their distinct storages."""

    def __init__(self) -> None:
        gc.collect()
        objects = gc.get_objects()
        self.types = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in objects)
        tensors = [o for o in objects if issubclass(type(o), torch.Tensor)]
        self.tensors = len(tensors)
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
        self.tensor_bytes = sum(storages.values())

    def grown(self, later: Census) -> dict[str, int]:
        growth = {name: later.types[name] - self.types[name] for name in later.types}
        return {name: count for name, count in growth.items() if count > SLACK}

    def dlsan_objects(self) -> int:
        """Instances of dlsan's classes (sanitizer, recorder, probes, tapes, findings)."""
        return sum(count for name, count in self.types.items() if name.startswith("dlsan."))


def _setup() -> tuple[nn.Module, torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4))
    return model, torch.optim.SGD(model.parameters(), lr=0.01), torch.randn(8, 8), torch.randn(8, 4)


@pytest.mark.slow
def test_two_thousand_steps_leave_no_growth() -> None:
    model, optimizer, x, y = _setup()

    def train(steps: int) -> None:
        for _ in range(steps):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()

    train(2)  # the optimizer's state and the gradients exist before the first census
    before = Census()
    san = dlsan.instrument(model, optimizer=optimizer, on_error="record")  # every default probe
    train(WARM_UP)
    warm = Census()
    train(STEPS - WARM_UP)
    end = Census()
    assert san.step == STEPS and san.findings == []

    assert warm.grown(end) == {}, "objects accumulate with the steps"
    assert end.tensors == warm.tensors and end.tensor_bytes == warm.tensor_bytes

    san.remove()
    del san
    after = Census()
    assert after.dlsan_objects() == before.dlsan_objects(), "the sanitizer's objects outlived remove()"
    assert after.tensors == before.tensors and after.tensor_bytes == before.tensor_bytes
