"""torch.compile: an instrumented model compiles without graph breaks and still trains.

Each check runs in a fresh interpreter: dynamo keeps fake tensors and compiled graphs alive in
global state after compiling, which would leak into every later test of the session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch._dynamo")

REPO = Path(__file__).resolve().parents[2]

PRELUDE = """
import importlib.util, json, sys
import torch
import torch._dynamo as dynamo
import dlsan
from dlsan.runtime import NonFiniteError
spec = importlib.util.spec_from_file_location("toys", "fixtures/models/toys.py")
toys = importlib.util.module_from_spec(spec); sys.modules["toys"] = toys; spec.loader.exec_module(toys)
torch.manual_seed(0)
torch.set_num_threads(1)
x = torch.randn(6, 8)
"""


SCENARIOS = """
model = toys.mlp()
with dlsan.instrument(model, shapes={"0": "B D -> B H"}):
    explanation = dynamo.explain(model)(x)
explain = {"breaks": explanation.graph_break_count, "graphs": explanation.graph_count,
           "reasons": [str(r.reason) for r in explanation.break_reasons]}
dynamo.reset()

model = toys.mlp(toys.SqrtOfZero())
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
with dlsan.instrument(model, optimizer=optimizer) as san:
    compiled = torch.compile(model, backend="aot_eager")
    optimizer.zero_grad()
    compiled(x).sum().backward()
    try:
        optimizer.step()  # dlsan refuses to apply the NaN gradients
        error = None
    except NonFiniteError as caught:
        error = caught
train = {"phase": error and error.phase, "origin": error and error.origin, "message": error and str(error),
         "step": san.step, "weights_finite": bool(torch.isfinite(model[0].weight).all())}
print(json.dumps({"explain": explain, "train": train}))
"""


@pytest.fixture(scope="module")
def compiled_runs() -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + SCENARIOS], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_hooks_cause_no_graph_break(compiled_runs):
    explain = compiled_runs["explain"]
    assert explain["breaks"] == 0, explain["reasons"]
    assert explain["graphs"] == 1


def test_compiled_model_trains_and_gradients_are_still_checked(compiled_runs):
    train = compiled_runs["train"]
    assert (train["phase"], train["origin"]) == ("backward", "parameter-gradient")
    assert "no eager forward pass was recorded" in train["message"]
    assert train["step"] == 0 and train["weights_finite"]
