"""The first bad op and its line: planted NaN bugs are named by op, source line and hint."""

from __future__ import annotations

import inspect
import traceback
import weakref

import pytest
import torch
from torch import nn

import dlsan
from dlsan.runtime.replay import BadOpError


def _line_of(cls: type, text: str) -> int:
    lines, start = inspect.getsourcelines(cls.forward)
    return start + next(i for i, line in enumerate(lines) if text in line)


class LogOfNegative(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        h = self.fc(x)
        return torch.log(h)


class SqrtAtZero(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        h = self.fc(x)
        distance = torch.sqrt((h - h).pow(2).sum(-1))
        return h + distance[:, None]


class Standardise(nn.Module):
    def forward(self, x):
        std = x.std(dim=0, keepdim=True)
        return (x - x.mean(dim=0, keepdim=True)) / std


class ConstantFeature(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = Standardise()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.norm(x))


class HalfPrecision(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8).half()

    def forward(self, x):
        h = self.fc(x.half())
        return (h * 1000.0).float()


class MaskedAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q, self.k = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x, mask):
        scores = self.q(x) @ self.k(x).transpose(1, 2)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        return torch.softmax(scores, dim=-1) @ x


def _error(model: nn.Module, *inputs: torch.Tensor) -> dlsan.NonFiniteError:
    with pytest.raises(dlsan.NonFiniteError) as info:
        with dlsan.instrument(model):
            model(*inputs).sum().backward()
    return info.value


def test_log_of_a_negative_names_torch_log_and_its_line():
    error = _error(LogOfNegative(), torch.randn(6, 8))
    finding = error.finding
    assert finding.details["op"] == "torch.log" and finding.phase == "forward"
    assert finding.line == _line_of(LogOfNegative, "torch.log") and finding.path.endswith("test_replay.py")
    assert f"first bad op: torch.log at {finding.path}:{finding.line}: return torch.log(h)" in finding.message
    assert finding.details["op_inputs"][0]["min"] < 0 and "log of a non-positive value" in finding.message
    # the cause's traceback ends in the user's forward, at that line
    assert isinstance(error.__cause__, BadOpError)
    last = traceback.extract_tb(error.__cause__.__traceback__)[-1]
    assert (last.lineno, last.name) == (finding.line, "forward")


def test_sqrt_at_zero_in_backward_names_the_node_and_the_forward_line():
    x = torch.randn(6, 8)
    error = _error(SqrtAtZero(), x)
    finding = error.finding
    assert finding.phase == "backward" and finding.details["node"] == "SqrtBackward0"
    assert finding.details["op"] == "torch.sqrt" and finding.line == _line_of(SqrtAtZero, "torch.sqrt")
    assert "infinite derivative" in finding.details["hint"]


def test_a_backward_replay_from_a_temporary_input_names_the_node_and_the_forward_line():
    # model(x.clone()) (like model(x.float()) or model(batch.to(device))): nothing but the graph
    # holds the input by the time backward() runs, and the replay starts from that input
    model, x = SqrtAtZero(), torch.randn(6, 8)
    with pytest.raises(dlsan.NonFiniteError) as info:
        with dlsan.instrument(model):
            model(x.clone()).sum().backward()
    finding = info.value.finding
    assert finding.phase == "backward" and finding.details["node"] == "SqrtBackward0"
    assert finding.details["op"] == "torch.sqrt" and finding.line == _line_of(SqrtAtZero, "torch.sqrt")


def test_the_input_held_for_a_backward_replay_dies_with_the_graph():
    model = SqrtAtZero()
    with dlsan.instrument(model, on_error="record", replay=True):
        x = torch.randn(6, 8)
        seen = weakref.ref(x)
        out = model(x)
        del x
        assert seen() is not None  # the graph holds it, for a backward replay
        del out
        assert seen() is None  # the graph died, and the input with it


def test_division_by_a_zero_std_names_the_division():
    x = torch.randn(6, 8)
    x[:, 3] = 2.0  # a constant feature: its std is 0
    finding = _error(ConstantFeature(), x).finding
    assert finding.module == "norm" and finding.details["op"] == "torch.Tensor.div"
    assert finding.line == _line_of(Standardise, "/ std") and "division by zero" in finding.message
    assert finding.code == "DLS801"


def test_float16_overflow_names_the_op_and_suggests_bfloat16():
    model = HalfPrecision()
    with torch.no_grad():
        model.fc.weight.fill_(10.0)
    finding = _error(model, torch.full((4, 8), 10.0)).finding
    assert finding.details["op"] == "torch.Tensor.mul"
    assert finding.line == _line_of(HalfPrecision, "* 1000.0") and "bfloat16" in finding.details["hint"]


def test_an_all_masked_softmax_row_names_softmax():
    x = torch.randn(2, 5, 8)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1] = False  # every key of the second sequence masked
    finding = _error(MaskedAttention(), x, mask).finding
    assert finding.details["op"] == "torch.softmax" and finding.line == _line_of(MaskedAttention, "torch.softmax")
    assert "every position is masked" in finding.details["hint"]


def test_the_replay_changes_nothing_and_is_off_in_record_mode():
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), LogOfNegative())
    x = torch.randn(6, 8)
    mean = model[1].running_mean.clone()
    state = torch.get_rng_state()
    with pytest.raises(dlsan.NonFiniteError):
        with dlsan.instrument(model):
            model(x)
    expected = (mean * 0.9 + 0.1 * model[0](x).mean(0)).detach()
    assert torch.allclose(model[1].running_mean, expected, rtol=0, atol=1e-7)  # one update, not two
    assert torch.equal(state, torch.get_rng_state())
    plain = LogOfNegative()
    with dlsan.instrument(plain, on_error="record") as san:
        plain(x)
    assert "op" not in san.findings[0].details
    with dlsan.instrument(plain, on_error="record", replay=True) as san:
        plain(x)
    assert san.findings[0].details["op"] == "torch.log"


def test_weights_corrupted_by_an_update_get_the_learning_rate_hint():
    model = nn.Sequential(nn.Linear(8, 4))
    with torch.no_grad():
        model[0].weight[0, 0] = float("inf")
    finding = _error(model, torch.randn(3, 8)).finding
    assert finding.details["origin"] == "parameter" and "lower the learning rate" in finding.message
