"""The test that keeps the training-health probes honest: healthy training produces no findings."""

from __future__ import annotations

import pytest
import torch

from dlsan.runtime.probe import probe_classes

from runtime_health_models import HEALTHY, train


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_healthy_training_has_no_findings(name):
    torch.manual_seed(0)
    build, batch = HEALTHY[name]
    model = build()
    san = train(model, batch, steps=30, checks=list(probe_classes()))  # every probe, opt-in ones too
    assert san.step == 30
    assert not san.findings, san.report()
