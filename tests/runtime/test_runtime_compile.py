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


#: Plain and instrumented (every probe on) copies of a model, each compiled after a dynamo reset
#: with a backend that counts the graphs and their ops, trained 3 steps and evaluated once.
SAME_GRAPHS = """
import copy
import torch._dynamo.backends.registry as registry
from torch import nn
from torch._dynamo.utils import counters
from dlsan.runtime.probe import probe_classes


# Embedding -> Dropout -> LSTM -> Linear: dynamo cannot trace the LSTM, so a plain compiled call
# runs it all eagerly (no graph); compiled alone, the dropout would draw from inductor's RNG
class DropoutTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(30, 16)
        self.drop = nn.Dropout(0.3)
        self.rnn = nn.LSTM(16, 16, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, tokens):
        return self.head(self.rnn(self.drop(self.embed(tokens)))[0])


# two compiled halves around a graph break in the user's own code
class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2))
        self.second = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4))

    def forward(self, x):
        hidden = self.first(x)
        torch._dynamo.graph_break()
        return self.second(hidden)


def run(model, batches, backend, watched):
    torch._dynamo.reset()
    counters.clear()
    inner = registry.lookup_backend(backend)
    graphs = []

    def counting(gm, example_inputs):
        graphs.append(sum(node.op == "call_function" for node in gm.graph.nodes))
        return inner(gm, example_inputs)

    compiled = torch.compile(model, backend=counting)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    san = dlsan.instrument(model, optimizer=optimizer, on_error="record", checks=sorted(probe_classes())) if watched else None
    seen = []
    for step, (x, y) in enumerate(batches):
        torch.manual_seed(step)
        optimizer.zero_grad()
        out = compiled(x)
        torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)).backward()
        optimizer.step()
        seen.append(out.detach())
    model.eval()
    with torch.no_grad():
        seen.append(compiled(batches[0][0]))
    findings = [] if san is None else [f.message for f in san.findings]
    if san is not None:
        san.remove()
    seen += [p.detach().clone() for p in model.parameters()]
    return {"graphs": graphs, "graph_breaks": sum(counters["graph_break"].values()),
            "unsupported": sum(counters["unimplemented"].values()), "frames": counters["frames"]["total"]}, seen, findings


def compare(build, batch, backend):
    torch.manual_seed(0)
    model = build()
    twin = copy.deepcopy(model)
    batches = [batch() for _ in range(3)]
    plain, plain_seen, _ = run(model, batches, backend, watched=False)
    watched, watched_seen, findings = run(twin, batches, backend, watched=True)
    same = len(plain_seen) == len(watched_seen) and all(torch.equal(a, b) for a, b in zip(plain_seen, watched_seen))
    return {"plain": plain, "watched": watched, "same_bits": same, "findings": findings}


tokens = lambda: (torch.randint(0, 30, (4, 7)), torch.randint(0, 5, (4, 7)))
vectors = lambda: (torch.randn(6, 8), torch.randint(0, 4, (6,)))
same_graphs = {
    "lstm-tagger": compare(DropoutTagger, tokens, "inductor"),
    "user-graph-break": compare(Broken, vectors, "aot_eager"),
    "mlp": compare(lambda: toys.mlp(nn.Dropout(0.2)), vectors, "aot_eager"),
}

# the same LSTM with a NaN weight: the checks run on what runs eagerly inside the compiled call
torch._dynamo.reset()
torch.manual_seed(0)
tagger = DropoutTagger()
with torch.no_grad():
    tagger.rnn.weight_hh_l0[0, 0] = float("nan")
with dlsan.instrument(tagger, on_error="record") as san:
    torch.compile(tagger, backend="aot_eager")(tokens()[0])
    eager_nan = [(f.kind, f.module) for f in san.findings]

# broadcast: a compiled helper inside an eager model is compiled as without dlsan (dynamo compiles
# nothing while a dispatch mode is on), and the model's own broadcast is still found
class WithHelper(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x, y):
        h = self.lin(x)
        return helper(h, h) - y


helper_graphs = []


def helper_backend(gm, example_inputs):
    helper_graphs.append(sum(node.op == "call_function" for node in gm.graph.nodes))
    return gm.forward


helper = torch.compile(lambda a, b: torch.tanh(a) * b + 1, backend=helper_backend)
torch._dynamo.reset()
model = WithHelper()
with dlsan.instrument(model, checks=["broadcast"], on_error="record") as san:
    for _ in range(2):
        model(torch.randn(3, 4), torch.randn(3, 1, 4)).sum().backward()
    helper_run = {"graphs": helper_graphs, "found": [(f.kind, f.details["shapes"]) for f in san.findings]}
print(json.dumps({"same_graphs": same_graphs, "eager_nan": eager_nan, "helper": helper_run}))
"""


def _run_fresh(script: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + script], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def compiled_runs() -> dict:
    return _run_fresh(SCENARIOS)


@pytest.fixture(scope="module")
def same_graph_runs() -> dict:
    return _run_fresh(SAME_GRAPHS)


def test_hooks_cause_no_graph_break(compiled_runs):
    explain = compiled_runs["explain"]
    assert explain["breaks"] == 0, explain["reasons"]
    assert explain["graphs"] == 1


def test_compiled_model_trains_and_gradients_are_still_checked(compiled_runs):
    train = compiled_runs["train"]
    assert (train["phase"], train["origin"]) == ("backward", "parameter-gradient")
    assert "no eager forward pass was recorded" in train["message"]
    assert train["step"] == 0 and train["weights_finite"]


@pytest.mark.parametrize("name", ["lstm-tagger", "user-graph-break", "mlp"])
def test_hooked_model_compiles_the_plain_models_graphs(same_graph_runs, name):
    """The same graphs (and ops in each), graph breaks, unsupported constructs and frames as the
    plain model, and the same bits.  Before, the hooks of PyTorch's modules made dynamo compile
    them as graphs of their own where a plain model runs them eagerly (the LSTM tagger: 2 graphs
    instead of 0, its dropout then drawing from inductor's RNG), and probes that change their
    state or hooks between steps recompiled every frame."""
    run = same_graph_runs["same_graphs"][name]
    assert run["watched"] == run["plain"]
    assert run["same_bits"] and run["findings"] == []


def test_modules_run_eagerly_inside_a_compiled_call_are_still_checked(same_graph_runs):
    # the LSTM, which dynamo cannot trace, runs eagerly inside the compiled call: before, dynamo
    # compiled dlsan's hooks there as frames of their own, with the checks off, and the NaN went unseen
    assert same_graph_runs["eager_nan"] == [["nonfinite", "rnn"]]


def test_broadcast_probe_leaves_a_compiled_helper_compiled(same_graph_runs):
    # (in a fresh interpreter: an in-process compiled helper leaves fake tensors alive for later tests)
    helper = same_graph_runs["helper"]
    assert helper["graphs"] == [3], "the helper ran eagerly under the probe's dispatch mode"
    assert helper["found"] == [["ambiguous-broadcast", [[3, 4], [3, 1, 4]]]]
