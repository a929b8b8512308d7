"""The test that keeps the training-health probes honest: healthy training produces no findings."""

from __future__ import annotations

import pytest
import torch
from runtime_health_models import HEALTHY, train

from dlsan.runtime.probe import probe_classes


@pytest.mark.parametrize("steps", [3, 30, 100])
@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_healthy_training_has_no_findings(name, steps):
    """3 steps: the first-step and partial-window judgements; 100: every sustained window."""
    torch.manual_seed(0)
    build, batch = HEALTHY[name]
    model = build()
    san = train(model, batch, steps=steps, checks=list(probe_classes()))  # every probe, opt-in ones too
    assert san.step == steps
    assert not san.findings, san.report()
