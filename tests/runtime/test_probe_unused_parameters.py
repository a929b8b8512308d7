"""``unused-parameter``: trainable parameters that backward never reaches."""

from __future__ import annotations

import torch
from runtime_health_models import train
from torch import nn

import dlsan


class WithAux(nn.Module):
    """A backbone, a head, and an auxiliary head that forward never calls."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(10, 16)
        self.head = nn.Linear(16, 3)
        self.aux = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.backbone(x)))


def _batch():
    return torch.randn(8, 10), torch.randint(0, 3, (8,))


def test_an_auxiliary_head_never_called_is_reported_by_parameter_path():
    san = train(WithAux(), _batch, steps=6, checks=["unused-parameter"])
    (finding,) = san.findings
    assert finding.kind == "unused-parameter" and finding.module == "aux" and finding.phase == "backward"
    assert finding.details["parameters"] == ["aux.weight", "aux.bias"]
    assert finding.step == 5 and finding.details["count"] == 1
    assert "aux.weight, aux.bias of module 'aux' received no gradient in 5 training steps" in finding.message


def test_frozen_parameters_are_not_unused():
    model = WithAux()
    model.aux.requires_grad_(False)
    assert not train(model, _batch, steps=6, checks=["unused-parameter"]).findings


def test_one_step_is_quiet_and_says_it_is_not_enough():
    san = train(WithAux(), _batch, steps=1, checks=["unused-parameter"])
    assert not san.findings
    assert "unused-parameter: a sustained unused-parameter finding needs 5 training steps in a row; 1 seen" in san.report()


def test_a_short_run_reports_its_partial_window():
    san = train(WithAux(), _batch, steps=3, checks=["unused-parameter"])
    (finding,) = san.findings
    assert finding.module == "aux" and finding.details["partial"] and finding.details["steps"] == 3
    assert finding.code == "DLS806" and finding.path.endswith("test_probe_unused_parameters.py")
    assert "aux.weight, aux.bias of module 'aux' received no gradient in any of the 3 training steps" in finding.message
    assert san.findings == [finding]  # asking again does not report it again


def test_fewer_steps_than_configured_are_not_sustained():
    san = train(WithAux(), _batch, steps=4, checks=["unused-parameter"])
    assert [f.details.get("partial") for f in san.findings] == [True]
    san = train(WithAux(), _batch, steps=2, checks=["unused-parameter"], options={"unused-parameter": {"steps": 2}})
    assert [f.module for f in san.findings] == ["aux"]


def test_a_branch_used_every_other_step_is_used():
    class Sometimes(WithAux):
        calls = 0

        def forward(self, x):
            self.calls += 1
            out = super().forward(x)
            return out + self.aux(torch.relu(self.backbone(x))) if self.calls % 2 else out

    assert not train(Sometimes(), _batch, steps=8, checks=["unused-parameter"]).findings


def test_a_backbone_run_under_no_grad_is_unused():
    class Detached(WithAux):
        def forward(self, x):
            with torch.no_grad():
                features = torch.relu(self.backbone(x))
            return self.head(features) + 0 * self.aux(features)

    san = train(Detached(), _batch, steps=5, checks=["unused-parameter"])
    assert [f.details["parameters"] for f in san.findings] == [["backbone.weight", "backbone.bias"]]


def test_steps_without_a_backward_through_the_model_do_not_count():
    model = WithAux()
    other = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(list(model.parameters()) + list(other.parameters()), lr=0.1)
    with dlsan.instrument(model, optimizer=optimizer, checks=["unused-parameter"]) as san:
        for _ in range(6):
            optimizer.zero_grad()
            other(torch.randn(1, 2)).sum().backward()  # the model took no part
            optimizer.step()
    assert not san.findings


def test_steps_without_an_optimizer_count_backward_passes():
    san = train(WithAux(), _batch, steps=5, with_optimizer=False, checks=["unused-parameter"])
    assert [f.module for f in san.findings] == ["aux"]
