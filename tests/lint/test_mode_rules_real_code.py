"""DLS301 on real code, judged (benchmarks/mirror_verdicts.jsonl): the findings kept are true, and
the false ones found there stay fixed.  Each case is cut down from the file it cites."""

from __future__ import annotations

from pathlib import Path

from dlsan.lint.api import lint_paths, lint_source


def _lines(source: str) -> list[int]:
    return [f.line for f in lint_source(source, "example.py", select=["DLS301"])]


# rasbt/deeplearning-models pytorch_ipynb/cnn/nin-cifar10_batchnorm.ipynb: accuracy computed under
# set_grad_enabled(False) right after training, the batch norms still in training mode
NIN = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    class NiN(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.classifier = nn.Sequential(nn.Conv2d(3, 192, 5, padding=2), nn.BatchNorm2d(192), nn.ReLU(),
                                            nn.Conv2d(192, num_classes, 1), nn.AdaptiveAvgPool2d(1))
        def forward(self, x):
            logits = self.classifier(x).flatten(1)
            return logits, F.softmax(logits, dim=1)
    def compute_accuracy(model, data_loader, device):
        correct_pred, num_examples = 0, 0
        for features, targets in data_loader:
            logits, probas = model(features.to(device))
            _, predicted_labels = torch.max(probas, 1)
            num_examples += targets.size(0)
            correct_pred += (predicted_labels == targets.to(device)).sum()
        return correct_pred.float() / num_examples * 100
    model = NiN(10)
    optimizer = torch.optim.Adam(model.parameters())
    for epoch in range(10):
        model.train()
        for features, targets in train_loader:
            cost = F.cross_entropy(model(features)[0], targets)
            optimizer.zero_grad()
            cost.backward()
            optimizer.step()
        with torch.set_grad_enabled(False):
            valid_acc = compute_accuracy(model, valid_loader, device="cpu")
"""


def test_accuracy_in_training_mode_after_the_epoch() -> None:
    assert _lines(NIN) == [31]


def test_quiet_once_the_model_is_switched_to_eval() -> None:
    fixed = NIN.replace("        with torch.set_grad_enabled(False):\n",
                        "        model.eval()\n        with torch.set_grad_enabled(False):\n")
    assert _lines(fixed) == []


# pyg-team/pytorch_geometric examples/lcm_aggr_2nd_min.py: test() never puts the model in eval mode
LCM = """
    import torch
    class LCM(torch.nn.Module):
        def __init__(self, emb_dim: int, dropout: float = 0.25):
            super().__init__()
            self.encoder = torch.nn.Sequential(torch.nn.Linear(emb_dim, emb_dim), torch.nn.Dropout(), torch.nn.GELU())
            self.decoder = torch.nn.Sequential(torch.nn.Linear(emb_dim, emb_dim), torch.nn.Dropout(dropout))
        def forward(self, x, batch):
            return self.decoder(self.encoder(x))
    model = LCM(emb_dim=128)
    @torch.no_grad()
    def test(loader):
        total_correct = total_examples = 0
        for batch in loader:
            pred = model(batch.x, batch.batch).sigmoid().round()
            total_correct += int(((pred != batch.y).sum(dim=-1) == 0).sum())
            total_examples += batch.num_graphs
        return total_correct / total_examples
"""


def test_evaluation_function_of_a_script_without_eval() -> None:
    assert _lines(LCM) == [15]


# pyg-team/pytorch_geometric test/nn/models/test_basic_gnn.py: `test_batch` in a test module is a
# pytest test (outside one, the name is an evaluation loop's)
def test_test_batch_is_a_pytest_test_in_a_test_module(tmp_path: Path) -> None:
    source = """\
import pytest
import torch
import torch.nn as nn

@pytest.mark.parametrize("norm", ["BatchNorm", "LayerNorm"])
def test_batch(norm):
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16))
    with torch.no_grad():
        out = model(torch.randn(3, 8))
    assert out.size() == (3, 16)
"""
    for name, flagged in (("test_basic_gnn.py", False), ("loops.py", True)):
        (tmp_path / name).write_text(source)
        found = [f for r in lint_paths([tmp_path / name], select=["DLS301"]).files for f in r.findings]
        assert bool(found) is flagged, name
