"""``ambiguous-broadcast`` (opt-in): operands that broadcast both ways, losses on mismatched shapes."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import _get_current_function_mode_stack
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

import dlsan
from dlsan.runtime.probe import probe_classes
from dlsan.runtime.probes.broadcast import ambiguous


class Residual(nn.Module):
    """Subtracts a per-row mean kept as ``(N,)`` from an ``(N, 1)`` projection: an ``(N, N)`` result."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) - x.mean(dim=1)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((5, 1), (5,), True),
        ((5,), (5, 1), True),
        ((2, 5, 1), (5,), True),
        ((5, 1), (1, 5), False),  # explicit outer product
        ((5, 3), (3,), False),  # one side stretched only
        ((5, 1), (5, 1), False),
        ((), (5, 1), False),
        ((1,), (5, 1), False),  # (1,) -> (1, 1): only it grows
    ],
)
def test_ambiguity_rule(a, b, expected):
    assert ambiguous(a, b) is expected


def test_is_opt_in():
    assert not probe_classes()["broadcast"].default
    with dlsan.instrument(nn.Linear(2, 2)) as san:
        assert "broadcast" not in [p.name for p in san.probes]


def test_an_n_by_1_minus_n_inside_the_model_is_reported_once_per_call_site():
    model = nn.Sequential(nn.Linear(4, 4), Residual())
    with dlsan.instrument(model, checks=["broadcast"], on_error="record") as san:
        for _ in range(3):
            model(torch.randn(5, 4))
    (finding,) = san.findings
    assert finding.kind == "ambiguous-broadcast" and finding.module == "1" and finding.phase == "forward"
    assert finding.details["shapes"] == [[5, 1], [5]] and finding.details["op"] in ("sub", "__sub__")
    assert finding.details["where"].endswith(f"{__file__}:{Residual.forward.__code__.co_firstlineno + 1}")
    assert "(5, 1) and (5,)" in finding.message and "(5, 5)" in finding.message and "in '1'" in finding.message


def test_the_loss_is_checked_inside_watch_only():
    model = nn.Linear(4, 1)
    x, y = torch.randn(6, 4), torch.randn(6)
    with dlsan.instrument(model, checks=["broadcast"], on_error="record") as san, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own size warning
        F.mse_loss(model(x), y)  # dlsan: ignore[DLS202] - outside watch(): not seen
        assert not san.findings
        with san.watch():
            F.mse_loss(model(x), y)  # dlsan: ignore[DLS202] (the probe must see this broadcast)
            nn.L1Loss()(model(x), y)  # dlsan: ignore[DLS202] (the probe must see this broadcast)
    assert [f.details["op"] for f in san.findings] == ["mse_loss", "l1_loss"]
    assert all(f.details["loss"] and f.details["shapes"] == [[6, 1], [6]] for f in san.findings)
    assert "in the loss" in san.findings[0].message and "input (6, 1) and target (6,)" in san.findings[0].message


def test_matching_shapes_and_deliberate_broadcasts_are_quiet():
    class Fine(nn.Module):
        def forward(self, x):
            pos = torch.arange(x.shape[1], dtype=x.dtype)
            relative = pos[:, None] - pos[None, :]  # explicit outer difference
            return (x - x.mean(dim=1, keepdim=True)) * 2 + x.sum() + relative.sum()

    model = Fine()
    with dlsan.instrument(model, checks=["broadcast"], on_error="record") as san, san.watch():
        F.mse_loss(model(torch.randn(3, 4)), torch.zeros(3, 4))
    assert not san.findings


def test_the_mode_is_active_only_while_the_model_runs():
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append((len(_get_current_function_mode_stack()), len(_get_current_dispatch_mode_stack())))
            return x

    model = Spy()
    with dlsan.instrument(model, checks=["broadcast"]) as san:
        model(torch.ones(1))
        assert len(_get_current_dispatch_mode_stack()) == 0
        with pytest.raises(ZeroDivisionError):
            model.forward = lambda x: 1 / 0  # type: ignore[method-assign]
            model(torch.ones(1))
        assert len(_get_current_dispatch_mode_stack()) == 0  # popped although forward raised
        with san.watch():
            assert len(_get_current_function_mode_stack()) == 1
    # inside the model a dispatch mode (below autograd), never a function mode
    assert seen == [(0, 1)] and len(_get_current_function_mode_stack()) == 0


@pytest.mark.parametrize("fused", ["mha", "encoder-layer"])
def test_fused_inference_paths_run_as_without_the_probe(fused):
    # a TorchFunctionMode makes has_torch_function() true: MultiheadAttention and
    # TransformerEncoderLayer then leave their fused kernels, and the bits change
    torch.manual_seed(0)
    if fused == "mha":
        attention = nn.MultiheadAttention(16, 2, batch_first=True)

        def model(x: torch.Tensor) -> torch.Tensor:
            return attention(x, x, x)[0]

        root: nn.Module = attention
    else:
        root = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 2)
        model = root
    root.eval()
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        expected = model(x)
        with dlsan.instrument(root, checks=["broadcast", "nonfinite"], on_error="record") as san:
            assert torch.equal(model(x), expected)
    assert not san.findings


def test_outputs_are_unchanged():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), Residual())
    x = torch.randn(5, 4)
    expected = model(x)
    with dlsan.instrument(model, checks=["broadcast"], on_error="record"):
        assert torch.equal(model(x), expected)
