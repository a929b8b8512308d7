"""Shape contracts: parsing, binding across modules, and the errors they raise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dlsan
from dlsan.runtime import ShapeError
from dlsan.runtime.contracts import parse_contract


class Encoder(nn.Module):
    def __init__(self, dim: int = 8, classes: int = 5) -> None:
        super().__init__()
        self.encoder = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, classes)
        self.pool = nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.encoder(x)
        if mask is not None:
            h = h * mask[..., None]
        return self.head(self.pool(h))


def test_matching_contracts_are_silent():
    model = Encoder()
    shapes = {"encoder": "B T D -> B T D", "head": "B T D -> B T K", "": "B T D, B T -> B T 5"}
    with dlsan.instrument(model, shapes=shapes) as san:
        model(torch.randn(2, 3, 8), mask=torch.ones(2, 3))
    assert not san.findings


def test_a_name_binds_once_per_pass_across_contracts():
    model = Encoder(classes=8)  # the head keeps D: K would be 8 too, but T must stay 3
    shapes = {"encoder": "B T D -> B T D", "head": "B D T -> B D T"}
    with dlsan.instrument(model, shapes=shapes), pytest.raises(ShapeError) as info:
        model(torch.randn(2, 3, 8))
    err = info.value
    assert err.module == "head"
    message = str(err)
    assert "dimension D (axis 1) is 3" in message
    assert "D = 8 was bound by 'encoder' args[0] (axis 2)" in message


def test_bindings_reset_between_passes():
    model = Encoder()
    with dlsan.instrument(model, shapes={"encoder": "B T D -> B T D"}) as san:
        model(torch.randn(2, 3, 8))
        model(torch.randn(4, 7, 8))
    assert not san.findings


def test_fixed_sizes_ellipsis_and_wildcards():
    model = Encoder()
    with dlsan.instrument(model, shapes={"head": "... 8 -> _ ... K"}) as san:
        model(torch.randn(2, 3, 8))
        model(torch.randn(4, 8))
    assert not san.findings
    with dlsan.instrument(model, shapes={"head": "... 8 -> ... 6"}), pytest.raises(ShapeError) as info:
        model(torch.randn(2, 8))
    assert "axis 1 must be 6 ('... 6'), it is 5" in str(info.value)


def test_rank_mismatch():
    model = Encoder()
    with dlsan.instrument(model, shapes={"encoder": "B T D -> B T D"}), pytest.raises(ShapeError) as info:
        model(torch.randn(2, 8))
    assert "args[0] has shape (2, 8) with 2 dimensions; 'B T D' expects 3" in str(info.value)


def test_missing_tensor_is_reported():
    model = Encoder()
    with dlsan.instrument(model, shapes={"": "B T D, B T -> B T K"}), pytest.raises(ShapeError) as info:
        model(torch.randn(2, 3, 8))
    assert "2 input spec(s) but the module's input holds 1 tensor(s)" in str(info.value)


def test_record_mode_collects_shape_findings():
    model = Encoder()
    with dlsan.instrument(model, shapes={"head": "B T D -> B T 3"}, on_error="record") as san:
        out = model(torch.randn(2, 3, 8))
    assert out.shape == (2, 3, 5)
    (finding,) = san.findings
    assert (finding.kind, finding.module, finding.details["shape"]) == ("shape", "head", [2, 3, 5])


def test_unknown_module_names_suggest_close_matches():
    with pytest.raises(ValueError, match="no module named 'encodr'; did you mean 'encoder'"):
        dlsan.instrument(Encoder(), shapes={"encodr": "B T D -> B T D"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("B T D", "exactly one '->'"),
        ("B (h d) -> B", "grouped dimensions"),
        ("B ... ... -> B", "'...' may appear once"),
        ("B, -> B", "empty tensor spec"),
        ("B T-1 -> B", "is not a name"),
    ],
)
def test_contract_syntax_errors_are_found_at_instrument_time(text, problem):
    with pytest.raises(ValueError, match=problem):
        dlsan.instrument(Encoder(), shapes={"encoder": text})


def test_parse_contract():
    contract = parse_contract("m", "B T D, B T -> (), B 3 ...")
    assert [s.dims for s in contract.inputs] == [("B", "T", "D"), ("B", "T")]
    assert [s.dims for s in contract.outputs] == [(), ("B", 3, "...")]
