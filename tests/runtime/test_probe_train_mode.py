"""``train-mode-in-eval``: dropout / batch-norm models run under no_grad while in training mode."""

from __future__ import annotations

import pytest
import torch

import dlsan
from dlsan.runtime import SanitizerWarning


@pytest.fixture
def model(toys):
    return toys.DropoutNet()


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_dropout_model_under_no_grad_in_train_mode_is_reported(model, context):
    with dlsan.instrument(model, checks=["train-mode-in-eval"], on_error="record") as san:
        with context():
            model(torch.randn(2, 3, 8, 8))
            model(torch.randn(2, 3, 8, 8))
    (finding,) = san.findings
    assert finding.kind == "train-mode-in-eval" and finding.module == "" and finding.phase == "forward"
    assert finding.details["types"] == ["BatchNorm2d", "Dropout", "Dropout2d"]
    assert finding.details["count"] == 2
    assert "model.eval()" in finding.message


def test_eval_mode_and_training_with_grad_are_quiet(model):
    with dlsan.instrument(model, checks=["train-mode-in-eval"]) as san:
        model(torch.randn(2, 3, 8, 8)).sum().backward()  # training: grad enabled
        model.eval()
        with torch.no_grad():
            model(torch.randn(2, 3, 8, 8))
    assert not san.findings


def test_a_model_without_dropout_or_batchnorm_is_quiet(toys):
    model = toys.mlp()
    with dlsan.instrument(model, checks=["train-mode-in-eval"]) as san, torch.no_grad():
        model(torch.randn(2, 8))
    assert not san.findings


def test_only_modules_that_ran_and_are_in_training_mode_count(model):
    model.eval()
    model.classifier[1].train()  # one dropout left in training mode
    with dlsan.instrument(model, checks=["train-mode-in-eval"], on_error="record") as san, torch.no_grad():
        model.features(torch.randn(2, 3, 8, 8))  # a sub-module called on its own
        model(torch.randn(2, 3, 8, 8))
    (finding,) = san.findings
    assert finding.module == "" and finding.details["modules"] == ["classifier.1"]


def test_the_finding_is_not_an_exception(model):
    with dlsan.instrument(model, on_error="raise") as san:
        with pytest.warns(SanitizerWarning), torch.no_grad():
            model(torch.randn(2, 3, 8, 8))
    assert [f.kind for f in san.findings] == ["train-mode-in-eval"]
