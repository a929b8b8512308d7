"""Done-when of issue 17: a 3-step debugging run, every default check on, names each planted
problem with its DLS8xx code and a source location in the user's code."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from runtime_health_models import train
from torch import nn

import dlsan


class SigmoidStack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(16):
            linear = nn.Linear(32, 32)
            nn.init.normal_(linear.weight, std=0.01)
            layers += [linear, nn.Sigmoid()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.body(x))


class TimesThree(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(32, 32, bias=False) for _ in range(12))
        for layer in self.layers:
            nn.init.orthogonal_(layer.weight)
            layer.weight.data.mul_(3)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


class WithUnusedHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body, self.head, self.aux_head = nn.Linear(32, 16), nn.Linear(16, 3), nn.Linear(16, 3)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


class FunctionalDead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(32, 32), nn.Linear(32, 3)
        nn.init.constant_(self.fc1.bias, -50.0)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class BadInit(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(*[m for _ in range(8) for m in (nn.Linear(32, 32), nn.ReLU())])
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                nn.init.normal_(layer.weight, std=0.01)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.layers(x))


def _batch():
    return torch.randn(16, 32), torch.randint(0, 3, (16,))


@pytest.mark.parametrize(
    "model, code, module",
    [
        (SigmoidStack, "DLS804", "body.0"),
        (TimesThree, "DLS805", "layers.0"),
        (WithUnusedHead, "DLS806", "aux_head"),
        (FunctionalDead, "DLS803", "fc2"),
        (BadInit, "DLS810", "layers.0"),
    ],
)
def test_three_steps_name_the_problem_with_its_code_and_the_model_forward(model, code, module):
    san = train(model(), _batch, steps=3, lr=1e-9)
    found = [f for f in san.findings if f.code == code]
    assert found, san.report()
    finding = found[0]
    assert finding.module == module
    _, start = inspect.getsourcelines(model.forward)
    assert finding.path.endswith("test_first_steps.py") and finding.line == start


def test_three_steps_of_running_loss_plus_equals_loss_are_a_graph_leak():
    model = WithUnusedHead()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    running_loss = 0.0
    with dlsan.instrument(model, optimizer=optimizer, on_error="record") as san:
        for _ in range(3):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(torch.randn(8, 32)), torch.randint(0, 3, (8,)))
            loss.backward()
            optimizer.step()
            running_loss += loss  # dlsan: ignore[DLS101] (the planted leak the runtime must see)
    (leak,) = [f for f in san.findings if f.code == "DLS809"]
    assert leak.path.endswith("test_first_steps.py") and leak.step == 3
