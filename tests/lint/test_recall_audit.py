"""The recall audit (``benchmarks/recall_audit.py``) counts what it says it counts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recall_audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("recall_audit", _ROOT / "benchmarks" / "recall_audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["recall_audit"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("text", "cited"), [
    ("# https://github.com/pytorch/examples/blob/main/dcgan/main.py", "https://github.com/pytorch/examples/blob/main/dcgan/main.py"),
    ("# rixwew/pytorch-fm issue #21 (fixed in 8ac848d)", "rixwew/pytorch-fm issue #21"),
    ("# pyg-team/pytorch_geometric examples/mem_pool.py", "pyg-team/pytorch_geometric examples/mem_pool.py"),
    ("# search-index file 33037478968: a GAN", "search-index file 33037478968"),
    ("# written after the train/eval helpers of trainers", None),
])
def test_citations(recall_audit: ModuleType, text: str, cited: str | None) -> None:
    assert recall_audit.citation_of(text) == cited


@pytest.mark.parametrize(("code", "mechanism"), [
    ("layers = []\nlayers.append(nn.Sigmoid())\nself.model = nn.Sequential(*layers)", "appended-sequential"),
    ("class L(nn.Module):\n    def forward(self, x, y):\n        return F.cross_entropy(x, y)", "wrapped-cross-entropy"),
    ("def forward(self, x):\n    h = self.f(x)\n    return h, x", "forward-returns-tuple"),
    ("X_res, y_res = SMOTE().fit_resample(X, y)", "fit-resample"),
    ("imputer = Imputer(strategy='mean')", "legacy-imputer"),
    ("def load(d):\n    return train_test_split(d, test_size=0.2)", "split-in-helper"),
    ("model.fit(X, y, validation_data=(Xv, yv), callbacks=[EarlyStopping()])", "keras-validation-data"),
])
def test_mechanisms_are_read_from_the_code(recall_audit: ModuleType, code: str, mechanism: str) -> None:
    assert mechanism in recall_audit.mechanisms_of(code)


def test_look_alikes_are_not_mechanisms(recall_audit: ModuleType) -> None:
    assert recall_audit.mechanisms_of("imputer = SimpleImputer()\nnet = nn.Sequential(nn.Linear(2, 2))") == frozenset()


def test_the_suite_has_enough_cited_recall_cases(recall_audit: ModuleType) -> None:
    cases = recall_audit.audit(_ROOT)
    finding = [c for c in cases if c.citation is not None and c.finds]
    assert len(finding) >= recall_audit.REQUIRED_CASES
    covered = {m for c in finding for m in c.mechanisms}
    # the cases added for the audit's gaps (tests/lint/test_real_code_mechanisms.py) count
    assert {"appended-sequential", "legacy-imputer", "engine-import", "generate", "expand"} <= covered
