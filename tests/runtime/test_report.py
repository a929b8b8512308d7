"""``san.report()`` tables, ``san.to_dict()``, ``san.plot(path)`` and TensorBoard scalars."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from runtime_health_models import HEALTHY, train
from torch import nn


def _two_dead_layers(bias_first: float = -50, bias_second: float = -50) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3))
    with torch.no_grad():
        model[0].bias[:24] = bias_first  # 75% dead
        model[2].bias.fill_(bias_second)  # 100% dead
    return model


def _batch():
    return torch.randn(16, 10), torch.randint(0, 3, (16,))


def test_report_has_a_table_per_kind_worst_first_then_the_messages():
    san = train(_two_dead_layers(), _batch, steps=20, checks=["dead-relu", "unused-parameter"])
    report = san.report()
    head, *_ = report.splitlines()
    assert head == "dlsan: 2 findings in 20 steps (checks: dead-relu, unused-parameter)"
    table = report.split("dead-relu (2)\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert table[0].split() == ["module", "dead", "units", "steps"]
    assert [row.split()[:3] for row in table[1:]] == [["3", "100%", "16"], ["1", "75%", "32"]]
    details = report.split("details:\n", 1)[1]
    assert details.index("[dead-relu] step 20 forward 3") < details.index("[dead-relu] step 20 forward 1")


def test_gradient_tables_sort_by_ratio():
    from test_probe_gradients import _sigmoid_stack

    san = train(
        _sigmoid_stack(),
        lambda: (torch.randn(16, 32), torch.randint(0, 3, (16,))),
        steps=5,
        checks=["gradients"],
        options={"gradients": {"sample_every": 1}},
    )
    report = san.report()
    assert "vanishing-gradient (2)" in report  # at initialisation, and sustained over steps 1-5
    assert "first layer  last layer  gradient  ratio" in report


def test_to_dict_is_json_with_the_per_layer_series():
    torch.manual_seed(0)
    build, batch = HEALTHY["mlp"]
    data = json.loads(json.dumps(train(build(), batch, steps=20).to_dict()))
    gradients = data["probes"]["gradients"]
    assert gradients["layers"] == ["0", "2", "4"]
    assert gradients["norms"]["weight"]["steps"] == [1, 5, 9, 13, 17]  # one step in 4
    output = gradients["norms"]["output"]["layers"]
    assert output["2"][0] > 0 and set(output["2"][1:]) == {None}  # after the first pass: first and last only
    assert None not in output["0"] + output["4"]
    assert all(v > 0 for v in gradients["norms"]["weight"]["layers"]["0"])
    dead = data["probes"]["dead-relu"]
    assert dead["threshold"] == 0.7 and dead["dead_fraction"]["steps"] == [20]
    assert set(dead["dead_fraction"]["layers"]) == {"1", "3"}


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    torch.manual_seed(0)
    san = train(_two_dead_layers(bias_first=0), _batch, steps=20)
    path = san.plot(tmp_path / "health.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    san = train(_two_dead_layers(), _batch, steps=2)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'dlsan\[plot\]'"):
        san.plot(tmp_path / "health.png")


class FakeWriter:
    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))


def test_tensorboard_gets_the_same_scalars():
    torch.manual_seed(0)
    writer = FakeWriter()
    build, batch = HEALTHY["mlp"]
    san = train(build(), batch, steps=20, tensorboard=writer)
    tags = {tag for tag, _, _ in writer.scalars}
    assert {"dlsan/grad_norm/weight/0", "dlsan/grad_norm/output/4", "dlsan/dead_fraction/1"} <= tags
    weight0 = [(step, value) for tag, value, step in writer.scalars if tag == "dlsan/grad_norm/weight/0"]
    series = san.to_dict()["probes"]["gradients"]["norms"]["weight"]
    assert weight0 == list(zip(series["steps"], series["layers"]["0"]))


def test_series_stay_bounded_and_cover_the_whole_run():
    from dlsan.runtime.series import Series

    series = Series(limit=8)
    for step in range(1, 101):
        series.add(step, {"a": float(step)})
    data = series.to_dict()
    assert len(data["steps"]) < 8 and data["steps"][0] == 1 and data["steps"][-1] > 80
    assert data["layers"]["a"] == [float(s) for s in data["steps"]]
