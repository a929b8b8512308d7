"""dlsan.sanity_check: healthy models pass every check; each check fails on the bug it is for."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import numpy as np
import pytest
import runtime_health_models as zoo
import sanity_models as models
import torch
import torch.nn.functional as F
from torch import nn

import dlsan
from dlsan.testing import assert_sane

STEPS = 80


def check(model: nn.Module, batch: Any, loss_fn: Any = None, **options: Any) -> dlsan.SanityReport:
    options.setdefault("optimizer", models.fast_adam)
    options.setdefault("steps", STEPS)
    return dlsan.sanity_check(model, batch, loss_fn or nn.CrossEntropyLoss(), **options)


def statuses(report: dlsan.SanityReport) -> dict[str, str]:
    return {result.name: result.status for result in report.checks}


def flat_cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The zoo's loss: sequence outputs ``(N, T, C)`` flattened to ``(N*T, C)``."""
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))


@pytest.mark.parametrize("name", sorted(zoo.HEALTHY))
def test_healthy_zoo_passes_every_check(name: str) -> None:
    build, batch = zoo.HEALTHY[name]
    report = check(build(), batch(), flat_cross_entropy)
    assert statuses(report) == dict.fromkeys(dlsan.runtime.sanity.CHECKS, "pass"), str(report)


@pytest.mark.parametrize("name", sorted(models.HEALTHY))
def test_healthy_bases_of_the_buggy_models_pass_every_check(name: str) -> None:
    build, batch = models.HEALTHY[name]
    report = check(build(), batch())
    assert statuses(report) == dict.fromkeys(dlsan.runtime.sanity.CHECKS, "pass"), str(report)
    assert report.passed


def test_view_instead_of_transpose_mixes_the_batch() -> None:
    report = check(models.ViewInsteadOfTranspose(), models.sequence_batch())
    result = report["batch-independence"]
    assert result.status == "fail", str(report)
    assert "mixes examples across the batch" in result.message
    assert result.details["measured_at"] == "the input"


def test_attention_over_the_batch_axis_is_found_from_token_ids() -> None:
    # batch_first forgotten: (N, T) token ids are read as (T, N), so attention runs across examples
    report = check(models.TransformerClassifier(batch_first=False), models.token_batch())
    result = report["batch-independence"]
    assert result.status == "fail", str(report)
    assert result.details["measured_at"] == "the output of 'embed'"


def test_models_that_mix_the_batch_on_purpose_are_skipped_when_told() -> None:
    report = check(models.ViewInsteadOfTranspose(), models.sequence_batch(), mixes_batch=True)
    assert report["batch-independence"].status == "skip"


def test_frozen_branch_gets_no_gradient() -> None:
    report = check(models.FrozenBranch(), models.vector_batch())
    result = report["gradients-reach-parameters"]
    assert result.status == "fail", str(report)
    assert result.details["disconnected"] == ["context.0.weight", "context.0.bias"]
    assert result.details["dead"] == []


def test_model_that_ignores_its_input_fails_input_dependence_only() -> None:
    report = check(models.LooksUpPositions(), models.vector_batch())
    assert report["input-dependence"].status == "fail", str(report)
    assert "does not use its input" in report["input-dependence"].message
    assert [c.name for c in report.failures] == ["input-dependence"]


def test_input_overwritten_gives_the_same_curve_with_and_without_input() -> None:
    class Overwritten(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Linear(10, 16)
            self.head = nn.Linear(16, models.CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            features = self.encoder(x)
            features = torch.zeros_like(features)  # left over from a debugging session
            out: torch.Tensor = self.head(features)
            return out

    report = check(Overwritten(), models.vector_batch())
    result = report["input-dependence"]
    assert result.status == "fail", str(report)
    assert result.details["same_curve"] is True
    assert report["overfit-one-batch"].status == "fail"


def test_softmax_before_cross_entropy_cannot_overfit() -> None:
    report = check(models.softmax_mlp(), models.vector_batch())
    result = report["overfit-one-batch"]
    assert result.status == "fail", str(report)
    # the double softmax's floor for 4 classes is ln(1 + 3/e) = 0.742 of ln 4 = 1.386: at most 46%
    assert result.details["drop"] < 0.5
    assert report["loss-at-init"].status == "pass"  # the output is uniform at init either way
    assert report["input-dependence"].status == "skip"  # neither run fits: no verdict on the input


def test_division_by_zero_is_not_finite_at_learning_rate_zero_and_names_the_layer() -> None:
    report = check(models.NormalisesRows(), models.padded_batch())
    result = report["zero-lr-finite"]
    assert result.status == "fail", str(report)
    assert "'normalise'" in result.message
    assert result.details["findings"][0]["module"] == "normalise"


def test_adam_without_eps_is_not_finite_at_learning_rate_zero() -> None:
    def no_eps(params: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=1e-2, eps=0.0)

    x, y = models.vector_batch()
    model = models.mlp()
    first = model[0]
    assert isinstance(first, nn.Linear)
    first.weight.data[:, 0] = 0.0  # a feature column with zero gradient: Adam's 0/0
    x[:, 0] = 0.0
    report = check(model, (x, y), optimizer=no_eps)
    assert report["zero-lr-finite"].status == "fail", str(report)
    assert report["zero-lr-finite"].details["nonfinite_parameters"] or report["zero-lr-finite"].details["findings"]


def test_mis_scaled_output_fails_loss_at_init() -> None:
    report = check(models.HotLogits(), models.vector_batch())
    result = report["loss-at-init"]
    assert result.status == "fail", str(report)
    assert result.details["terms"][0]["ratio"] > 1 + dlsan.runtime.sanity.thresholds.INIT_LOSS_TOLERANCE


def test_labels_shifted_by_one_fail_output_target_shapes_before_the_loss_runs() -> None:
    x, y = models.vector_batch()
    y[0], y[1] = 0, models.CLASSES - 1  # both ends present, then numbered from 1
    report = check(models.mlp(), (x, y + 1))
    result = report["output-target-shapes"]
    assert result.status == "fail", str(report)
    assert f"class indices 1..{models.CLASSES}" in result.message
    assert "shifted by one" in result.message
    assert report["overfit-one-batch"].status == "skip"  # nothing trains on a loss that cannot run


@pytest.mark.filterwarnings("ignore:Using a target size")  # torch's own warning, from the training runs
def test_silent_broadcast_of_a_regression_output_fails_output_target_shapes() -> None:
    x = torch.randn(16, 10)
    report = check(models.regressor(), (x, x.sum(dim=1)), nn.MSELoss())
    result = report["output-target-shapes"]
    assert result.status == "fail", str(report)
    assert "(16, 1)" in result.message and "(16,)" in result.message and "(16, 16)" in result.message


def test_matching_regression_shapes_pass_and_have_no_chance_level() -> None:
    x = torch.randn(16, 10)
    report = check(models.regressor(), (x, x.sum(dim=1, keepdim=True)), nn.MSELoss())
    assert report["output-target-shapes"].status == "pass"
    assert report["loss-at-init"].status == "skip"
    assert report["overfit-one-batch"].status == "pass", str(report)


def test_label_smoothing_is_measured_against_the_loss_floor() -> None:
    x, y = models.vector_batch()
    report = check(models.mlp(), (x, y), nn.CrossEntropyLoss(label_smoothing=0.2))
    result = report["overfit-one-batch"]
    assert result.status == "pass", str(report)
    # the entropy of the smoothed targets: 0.85 on the label, 0.05 on each other class
    expected = -(0.85 * np.log(0.85) + 3 * 0.05 * np.log(0.05))
    assert result.details["floor"] == pytest.approx(expected, rel=1e-4)
    assert result.details["end"] > 0.5  # without the floor this would be a 57% fall


def test_binary_cross_entropy_chance_level_is_ln_2() -> None:
    x = torch.randn(16, 10)
    y = (x[:, 0] > 0).float().unsqueeze(1)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 1))
    report = check(model, (x, y), nn.BCEWithLogitsLoss())
    assert report["loss-at-init"].details["terms"][0]["chance"] == pytest.approx(np.log(2), rel=1e-6)
    assert report.passed, str(report)


def test_loss_calls_inside_a_custom_loss_function_are_seen() -> None:
    def loss_fn(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output, target) + 1e-4 * output.pow(2).mean()

    report = check(models.mlp(), models.vector_batch(), loss_fn)
    assert report["loss-at-init"].status == "pass"
    assert report["output-target-shapes"].message.endswith("fit cross_entropy")


def test_a_loss_dlsan_does_not_know_skips_the_loss_checks() -> None:
    def hinge(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        correct = output.gather(1, target[:, None])
        return (1 - correct + output).clamp_min(0).mean()

    report = check(models.mlp(), models.vector_batch(), hinge)
    assert report["loss-at-init"].status == "skip"
    assert report["output-target-shapes"].status == "skip"


def test_zero_initialised_residual_branch_is_not_called_dead() -> None:
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(10, 10)
            self.out = nn.Linear(10, 10)
            nn.init.zeros_(self.out.weight)  # zero_init_residual: the block starts as the identity

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = x + self.out(torch.relu(self.inner(x)))
            return out

    model = nn.Sequential(Residual(), nn.Linear(10, models.CLASSES))
    report = check(model, models.vector_batch())
    assert report["gradients-reach-parameters"].status == "pass", str(report)


def test_callers_model_optimizer_batch_and_random_state_are_bitwise_unchanged() -> None:
    model = zoo.CNN()  # batch-norm buffers and dropout
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = zoo.HEALTHY["cnn"][1]()
    for _ in range(2):
        optimizer.zero_grad()
        torch.autograd.backward(F.cross_entropy(model(x), y))
        optimizer.step()
    model.eval()
    np.random.seed(1)
    random.seed(1)
    before: dict[str, Any] = {
        "state": copy.deepcopy(model.state_dict()),
        "grads": {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
        "optimizer": copy.deepcopy(optimizer.state_dict()),  # state by parameter index
        "torch": torch.get_rng_state(),
        "numpy": _numpy_keys().copy(),
        "python": random.getstate(),
        "batch": (x.clone(), y.clone()),
    }
    report = dlsan.sanity_check(model, (x, y), nn.CrossEntropyLoss(), optimizer=optimizer, steps=5)
    assert len(report.checks) == 7
    assert not model.training
    for name, value in model.state_dict().items():
        assert torch.equal(value, before["state"][name]), name
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.equal(param.grad, before["grads"][name]), name
    after = optimizer.state_dict()
    assert after["param_groups"] == before["optimizer"]["param_groups"]
    for index, state in after["state"].items():
        for key, value in state.items():
            assert torch.equal(value, before["optimizer"]["state"][index][key]), (index, key)
    assert torch.equal(torch.get_rng_state(), before["torch"])
    assert np.array_equal(_numpy_keys(), before["numpy"])
    assert random.getstate() == before["python"]
    assert torch.equal(x, before["batch"][0]) and torch.equal(y, before["batch"][1])


def _numpy_keys() -> Any:
    state: Any = np.random.get_state()
    return state[1].copy()


def test_runs_are_reproducible() -> None:
    first = check(models.mlp(), models.vector_batch()).to_dict()
    torch.manual_seed(0)
    second = check(models.mlp(), models.vector_batch()).to_dict()
    assert first == second


def test_report_interface() -> None:
    report = check(models.FrozenBranch(), models.vector_batch())
    text = str(report)
    assert text.splitlines()[0] == "dlsan sanity check: FAILED (1 of 7 checks)"
    for name in dlsan.runtime.sanity.CHECKS:
        assert name in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is False
    assert [c["name"] for c in data["checks"]] == list(dlsan.runtime.sanity.CHECKS)
    with pytest.raises(dlsan.CheckFailure) as raised:
        report.raise_on_failure()
    assert isinstance(raised.value, AssertionError)
    assert "gradients-reach-parameters" in str(raised.value)


def test_assert_sane_returns_the_report_or_fails_with_its_table() -> None:
    report = assert_sane(models.mlp(), models.vector_batch(), nn.CrossEntropyLoss(),
                         optimizer=models.fast_adam, steps=STEPS)
    assert report.passed
    with pytest.raises(AssertionError, match="input-dependence"):
        assert_sane(models.LooksUpPositions(), models.vector_batch(), nn.CrossEntropyLoss(),
                    optimizer=models.fast_adam, steps=STEPS)


def test_dict_inputs_are_passed_as_keywords() -> None:
    class Keywords(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = models.mlp()

        def forward(self, *, features: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.net(features * scale)
            return out

    x, y = models.vector_batch()
    report = check(Keywords(), ({"features": x, "scale": torch.ones(16, 1)}, y))
    assert report.passed, str(report)


def test_skip_and_bad_arguments() -> None:
    report = check(models.HotLogits(), models.vector_batch(), skip=["loss-at-init"])
    assert report["loss-at-init"].status == "skip"
    with pytest.raises(ValueError, match="unknown check"):
        check(models.mlp(), models.vector_batch(), skip=["loss-at-start"])
    with pytest.raises(ValueError, match="steps"):
        check(models.mlp(), models.vector_batch(), steps=0)
    with pytest.raises(TypeError, match="pair"):
        check(models.mlp(), torch.randn(4, 10))


def test_a_model_that_cannot_run_on_its_batch_raises_its_own_error() -> None:
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        check(models.mlp(features=10), (torch.randn(4, 7), torch.zeros(4, dtype=torch.long)))


def test_a_bias_initialised_to_the_label_prior_is_not_called_too_good() -> None:
    # Karpathy's "init well": on 1-in-16 positives the loss starts near H(1/16) = 0.23, not ln 2
    x = torch.randn(64, 10)
    y = torch.zeros(64, 1)
    y[::16] = 1.0
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 1))
    last = model[2]
    assert isinstance(last, nn.Linear)
    nn.init.constant_(last.bias, float(torch.logit(torch.tensor(1 / 16))))
    result = check(model, (x, y), nn.BCEWithLogitsLoss())["loss-at-init"]
    assert result.status == "pass", result.message
    assert result.details["terms"][0]["prior"] == pytest.approx(0.2337, abs=1e-3)


def test_labels_leaking_into_the_input_make_the_untrained_model_too_good() -> None:
    x, y = models.vector_batch()
    x[:, : models.CLASSES] = 8.0 * F.one_hot(y, models.CLASSES)  # the label is one of the features
    model = nn.Linear(10, models.CLASSES)
    with torch.no_grad():
        model.weight.zero_()
        model.weight[:, : models.CLASSES] = torch.eye(models.CLASSES)  # e.g. a head copied from a trained model
    result = check(model, (x, y))["loss-at-init"]
    assert result.status == "fail", result.message
    assert "already right" in result.message


def test_multi_line_messages_stay_in_the_message_column() -> None:
    report = check(models.NormalisesRows(), models.padded_batch())
    lines = str(report).splitlines()
    column = lines[1].index("message")
    first = next(i for i, line in enumerate(lines) if line.startswith("zero-lr-finite"))
    following = lines[first + 1]
    assert following[:column].strip() == "" and following[column:].strip(), following
