"""The README's runtime examples run as written, against small stand-ins for the names they
assume (``model``, ``opt``, ``loader``, ``loss_fn``; ``args`` and ``data`` for Hugging Face)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

README = Path(__file__).resolve().parents[2] / "README.md"


def _runtime_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The runtime sanitizer") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


class Model(nn.Module):
    """Has the ``encoder`` the README's shape contract names (``B T D -> B T D``)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x)).mean(1)


def _names() -> dict[str, Any]:
    model = Model()
    return {
        "model": model,
        "opt": torch.optim.SGD(model.parameters(), lr=0.01),
        "loader": [(torch.randn(4, 5, 8), torch.randint(0, 3, (4,))) for _ in range(3)],
        "loss_fn": nn.functional.cross_entropy,
    }


EXAMPLES = _runtime_examples()


def test_the_readme_has_runtime_examples() -> None:
    assert len(EXAMPLES) >= 4 and any("dlsan.instrument(" in code for code in EXAMPLES)


@pytest.mark.parametrize("code", EXAMPLES, ids=[code.splitlines()[0][:40] for code in EXAMPLES])
def test_a_readme_example_runs(code: str, tmp_path: Path) -> None:
    names = _names()
    if "lightning" in code:
        pytest.importorskip("lightning")
    if "transformers" in code:
        transformers = pytest.importorskip("transformers")
        pytest.importorskip("accelerate")
        names["args"] = transformers.TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
        names["data"] = [{"x": torch.randn(5, 8), "labels": torch.tensor(0)}]
    exec(compile(code, str(README), "exec"), names)  # noqa: S102 - the README's own examples
    san = names.get("san")
    if "san.report()" in code:
        assert "no findings" in san.report()
    if san is not None:
        san.remove()  # the thresholds example keeps it attached
    trainer = names.get("trainer")
    if trainer is not None:  # the Hugging Face callback watches from the moment the Trainer is built
        handler = getattr(trainer, "callback_handler", trainer)
        for callback in handler.callbacks:
            if type(callback).__name__ == "SanitizerCallback" and hasattr(callback, "remove"):
                callback.remove()


def test_the_check_names_the_readme_lists_are_the_registered_ones() -> None:
    from dlsan.runtime.probe import probe_classes

    text = README.read_text(encoding="utf-8")
    bullet = text[text.index("* **Checks** (`checks=` names):") :].split("\n\n", 1)[0]
    bullet = bullet.split(":", 1)[1].split(", found with", 1)[0]
    bullet = re.sub(r"\([^)]*\)", "", bullet)  # drop the finding kinds in parentheses
    listed = set(re.findall(r"`([a-z-]+)`", bullet))
    assert listed == set(probe_classes())
