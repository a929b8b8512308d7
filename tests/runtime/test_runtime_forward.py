"""NaN/Inf in the forward pass: the first bad layer, the model input, output structures, modes."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import dlsan
from dlsan.runtime import NonFiniteError, SanitizerWarning


def test_names_the_module_that_produced_nan(toys, x):
    model = toys.mlp(toys.Log())
    with dlsan.instrument(model):
        with pytest.raises(NonFiniteError) as info:
            model(x)
    err = info.value
    assert (err.module, err.phase, err.step, err.origin) == ("2", "forward", 0, "module")
    message = str(err)
    assert "-inf first appeared in the forward pass at step 0 in module '2' (Log)" in message
    assert "args[0]: shape (6, 16) float32: all finite, values in [0," in message  # what it received


def test_innermost_module_is_blamed_not_its_containers(toys, x):
    model = toys.Nested(toys.Explode())
    with dlsan.instrument(model) as san, pytest.raises(NonFiniteError) as info:
        model(x)
    assert info.value.module == "blocks.1.inner.1"
    assert "+inf" in str(info.value)
    # its input is not kept by autograd, yet the message still describes it
    assert "args[0]: shape (6, 16) float32: all finite, values in" in str(info.value)
    assert [f.module for f in san.findings] == ["blocks.1.inner.1"]


def test_first_bad_module_in_execution_order_wins(toys, x):
    model = nn.Sequential(nn.Linear(8, 8), toys.Explode(), toys.Log())
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(x)
    assert info.value.module == "1"


def test_parent_code_is_blamed_when_no_submodule_produced_it(toys, x):
    model = toys.OwnCodeBug()
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(x)
    assert info.value.module == ""
    assert "the tensor its own code passed to 'second'" in str(info.value)


def test_nan_in_the_model_input_is_not_blamed_on_the_first_layer(toys, x):
    model = toys.mlp()
    x[2, 3] = float("nan")
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(x)
    assert (info.value.module, info.value.origin) == ("", "input")
    assert "already in the model input" in str(info.value)
    assert "1 NaN of 48 values" in str(info.value)


def test_corrupted_parameters_are_reported_as_such(toys, x):
    model = toys.mlp()
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(x)
    assert (info.value.module, info.value.origin) == ("2", "parameter")
    assert "weight: shape (4, 16) float32: 1 NaN" in str(info.value)


@pytest.mark.parametrize(
    ("inner", "where"),
    [("TupleOut", "output[1]"), ("DictOut", "output['logits']"), ("DataclassOut", "output.hidden")],
)
def test_structured_outputs_name_the_bad_element(toys, x, inner, where):
    model = toys.Wrap(getattr(toys, inner)())
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(x)
    assert info.value.module == "inner"
    assert f"its {where}" in str(info.value)


def test_lists_none_and_integer_outputs_are_fine(toys, x):
    class Mixed(nn.Module):
        def forward(self, t):
            return [t, None, t.argmax(-1), {"nested": (t * 2,)}]

    model = nn.Sequential(nn.Linear(8, 8), Mixed())
    side = toys.NoneOut()
    with dlsan.instrument(nn.ModuleList([model, side])) as san:
        out = model(x)
        assert side(x) is None
    assert len(out) == 4 and not san.findings


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_layers(toys, cell):
    model = toys.Tagger(cell)
    tokens = torch.randint(0, 50, (3, 7))
    with dlsan.instrument(model) as san:
        model(tokens).sum().backward()
        assert not san.findings
        with torch.no_grad():
            model.rnn.weight_hh_l0[0, 0] = float("nan")
        with pytest.raises(NonFiniteError) as info:
            model(tokens)
    assert (info.value.module, info.value.origin) == ("rnn", "parameter")
    assert "output[0]" in str(info.value)


def test_inplace_relu_runs_forward_and_backward_and_localises(toys, x):
    model = nn.Sequential(
        nn.Linear(8, 16), nn.ReLU(inplace=True), toys.Explode(), nn.ReLU(inplace=True), nn.Linear(16, 4)
    )
    with dlsan.instrument(model, on_error="record") as san:
        model(x).sum().backward()
    assert [(f.module, f.phase) for f in san.findings] == [("2", "forward")]


def test_an_inplace_module_that_breaks_its_input_is_blamed(toys, x):
    model = nn.Sequential(nn.Linear(8, 16), toys.InplaceLog(), nn.Linear(16, 4))
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info, torch.no_grad():
        model(x)
    assert info.value.module == "1"


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_inference_mode_including_inplace_modules(toys, x, mode):
    model = nn.Sequential(
        nn.Linear(8, 16), nn.ReLU(inplace=True), nn.Linear(16, 16), toys.InplaceLog(), nn.Linear(16, 4)
    )
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info, mode():
        model(x)
    assert info.value.module == "3"


def test_fp16_sums_do_not_overflow_into_false_alarms():
    model = nn.Sequential(nn.Identity(), nn.Linear(512, 512, bias=False).half())
    nn.init.constant_(model[1].weight, 0.1)
    x = torch.full((64, 512), 60.0, dtype=torch.float16)  # finite, but sums to ~2e6 > fp16 max
    with dlsan.instrument(model) as san:
        model(x)
    assert not san.findings


def test_warn_mode_warns_with_the_same_text_and_continues(toys, x):
    model = toys.mlp(toys.Log())
    with dlsan.instrument(model, on_error="warn") as san:
        with pytest.warns(SanitizerWarning) as caught:
            out = model(x)
    assert out.shape == (6, 4)
    assert str(caught[0].message) == "dlsan: " + san.findings[0].message


def test_record_mode_only_records_and_merges_repeats(toys, x):
    model = toys.mlp(toys.Log())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with dlsan.instrument(model, on_error="record") as san:
            for _ in range(3):
                model(x)
    (finding,) = san.findings
    assert finding.kind == "nonfinite" and finding.details["count"] == 3 and finding.details["last_step"] == 0


def test_minus_inf_masks_inside_the_model_never_alarm(toys):
    x = torch.randn(2, 4, 8)
    model = toys.MaskedAttention()  # a module returns an additive -inf mask that softmax consumes
    with dlsan.instrument(model, on_error="record") as san:
        model(x).sum().backward()
        with torch.no_grad():
            model(x)
    assert not san.findings


class MaskedLogits(nn.Module):
    """Returns logits with -inf for forbidden actions (an RL policy head): -inf leaves the model."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(x)
        return logits.masked_fill(torch.tensor([False, True, False, True]), float("-inf"))


def test_minus_inf_leaving_the_model_is_reported_unless_allowed(x):
    model = MaskedLogits()
    with dlsan.instrument(model, on_error="record") as san:
        model(x)
    (finding,) = san.findings
    assert (finding.module, finding.phase) == ("", "forward")
    assert "it leaves the model in output" in finding.message and "allow_inf=" in finding.message
    with dlsan.instrument(model, allow_inf=[""]) as san:
        model(x)
    assert not san.findings


def test_a_fully_masked_row_blames_the_module_that_returned_the_mask(toys):
    model = toys.MaskedAttention(all_masked=True)
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(torch.randn(2, 4, 8))
    assert info.value.module == "mask"
    assert "-inf first appeared" in str(info.value)
    assert "it led to NaN in module 'softmax' (Softmax)" in str(info.value)


def test_allow_inf_still_catches_the_softmax_of_a_fully_masked_row(toys):
    model = toys.MaskedAttention(all_masked=True)
    with dlsan.instrument(model, allow_inf="mask"), pytest.raises(NonFiniteError) as info:
        model(torch.randn(2, 4, 8))
    assert info.value.module == "softmax"


def test_minus_inf_that_stays_inside_a_module_is_fine(toys):
    model = toys.InternalMask()
    with dlsan.instrument(model) as san:
        model(torch.randn(2, 4, 8)).sum().backward()
    assert not san.findings


def test_allow_inf_names_are_validated(toys):
    with pytest.raises(ValueError, match="did you mean 'mask'"):
        dlsan.instrument(toys.MaskedAttention(), allow_inf=["mask_"])


def test_every_n_defers_the_check_and_keeps_the_step(toys, x):
    model = toys.mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with dlsan.instrument(model, optimizer=optimizer, every=4) as san:
        for step in range(3):
            optimizer.zero_grad()
            batch = x.clone()
            if step == 1:
                batch[0, 0] = float("inf")
            model(batch)
            optimizer.step()
        assert san.step == 3
        with pytest.raises(NonFiniteError) as info:
            san.check()
    assert (info.value.step, info.value.origin) == (1, "input")


def test_modules_called_directly_are_watched_too(toys, x):
    model = toys.Nested(toys.Log())
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model.blocks[1](torch.randn(6, 16))
    assert info.value.module == "blocks.1.inner.1"


def test_a_forward_that_raises_after_a_nan_reports_the_users_error_only(toys, x):
    class Crash(nn.Module):
        def forward(self, t):
            raise KeyError("user bug")

    model = nn.Sequential(toys.Log(), Crash())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch turns errors raised by hooks during an exception into warnings
        with dlsan.instrument(model) as san, pytest.raises(KeyError):
            model(x)
    assert not san.findings


def test_forward_that_raises_leaves_the_sanitizer_usable(toys, x):
    model = toys.mlp()
    with dlsan.instrument(model) as san:
        with pytest.raises(RuntimeError):
            model(torch.randn(6, 5))
        assert san.recorder.current is None
        model(x)
    assert not san.findings
