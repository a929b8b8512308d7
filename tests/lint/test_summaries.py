"""Function summaries at work: rules that see through helpers, ``self`` methods, base classes and
the project's own modules.  Each case is written after public code, cited above it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst
import pytest

from dlsan.lint.analysis.functions import file_index
from dlsan.lint.api import lint_source
from dlsan.lint.context import FileContext
from dlsan.lint.finding import LintFinding
from dlsan.lint.semantic.summaries import summary_of


def _codes(source: str, code: str) -> list[int]:
    return [f.line for f in lint_source(source, "example.py", select=[code])]


#: DLS301/DLS302 on models whose class cannot be resolved: off by default, these cases turn it on
#: to test how the mode is tracked through calls, whatever the model is
UNRESOLVED = {"DLS301": {"report-unresolved": True}, "DLS302": {"report-unresolved": True}}


def _unresolved(source: str, code: str) -> list[LintFinding]:
    found = lint_source(source, "example.py", select=[code], options=UNRESOLVED)
    assert _codes(source, code) == [], "an unresolved model is no finding by default"
    return found


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _lint(root: Path, name: str, code: str) -> list[str]:
    path = root / name
    return [f"{f.line}: {f.message}" for f in lint_source(path.read_text(), str(path), select=[code])]


def test_summary_says_which_parameters_are_put_in_eval_and_run() -> None:
    source = textwrap.dedent("""
        import torch
        def set_eval(m):
            m.eval()
        def validate(model, loader):
            set_eval(model)
            return [model(x) for x in loader]
        def forward_pass(net, batch):
            return net(batch["x"])
        def run(model, batch):
            return forward_pass(model, batch)
        def train_step(model, batch, opt):
            opt.zero_grad()
            forward_pass(model, batch).sum().backward()
            opt.step()
    """)
    context = FileContext("example.py", source, cst.parse_module(source))
    functions = file_index(context).functions
    assert summary_of(context, functions["set_eval"]).evaluated == {0}
    assert summary_of(context, functions["validate"]).evaluated == {0}
    assert not summary_of(context, functions["validate"]).runs  # it runs the model after switching it
    assert [r.position for r in summary_of(context, functions["run"]).runs] == [0]
    assert summary_of(context, functions["train_step"]).trains
    assert not summary_of(context, functions["run"]).trains


# -- DLS301 through helpers ------------------------------------------------------------------------

# Written after the forward helpers that trainers share between training and validation (code
# search: `def _forward_pass(self, batch` finds dozens); here the validation never switches the mode.
HELPER_FUNCTION = """
    import torch
    import torch.nn as nn
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Linear(8, 2))
        def forward(self, x):
            return self.body(x)
    def forward_pass(model, batch):
        return model(batch["x"])
    def validate(model, loader):
        losses = []
        with torch.no_grad():
            for batch in loader:
                losses.append(forward_pass(model, batch).mean().item())
        return losses
    validate(Net(), val_loader)
"""


def test_dls301_sees_a_model_run_through_a_same_file_helper() -> None:
    assert _codes(HELPER_FUNCTION, "DLS301") == [16]


def test_dls301_quiet_when_the_helper_switches_to_eval_itself() -> None:
    assert _codes(HELPER_FUNCTION.replace('        return model(batch["x"])',
                                          '        model.eval()\n        return model(batch["x"])'), "DLS301") == []


# Written after trainers whose `validate()` reaches the model through `self._forward_pass(batch)`
# (the same code search; the ones found call `self.model.eval()` first, this one does not)
SELF_METHOD = """
    import torch
    import torch.nn as nn
    class Trainer:
        def __init__(self, model, val_loader):
            self.model = model
            self.val_loader = val_loader
        def _forward_pass(self, batch):
            return self.model(batch["x"])
        def validate(self):
            total = 0.0
            with torch.no_grad():
                for batch in self.val_loader:
                    total += self._forward_pass(batch).sum().item()
            return total
"""


def test_dls301_sees_a_model_run_through_a_self_method() -> None:
    found = _unresolved(SELF_METHOD, "DLS301")
    assert [f.line for f in found] == [14]
    assert "cannot be resolved" in found[0].message


def test_dls301_quiet_when_validate_switches_to_eval_before_the_self_method() -> None:
    source = SELF_METHOD.replace("            total = 0.0\n", "            self.model.eval()\n            total = 0.0\n")
    assert _unresolved(source, "DLS301") == []


def test_dls301_sees_a_run_through_a_method_of_a_base_class() -> None:
    source = SELF_METHOD.replace("class Trainer:", "class BaseTrainer:\n        pass\n    class Trainer:")
    source = source.replace("    class Trainer:\n", "    class Trainer(BaseTrainer):\n").replace(
        "        def _forward_pass(self, batch):\n            return self.model(batch[\"x\"])\n", "")
    source = source.replace("class BaseTrainer:\n        pass\n",
                            "class BaseTrainer:\n        def _forward_pass(self, batch):\n"
                            "            return self.model(batch[\"x\"])\n")
    assert [f.line for f in _unresolved(source, "DLS301")] == [15]


# https://github.com/karpathy/ng-video-lecture/issues/16 and https://github.com/karpathy/nanoGPT/pull/749:
# `model.generate()` samples with dropout still on when the model is not put in eval mode
GENERATE = """
    import torch
    import torch.nn as nn
    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.2)
            self.head = nn.Linear(64, 65)
        def forward(self, idx):
            return self.head(self.drop(idx))
        def generate(self, idx, max_new_tokens):
            return idx
    model = GPT()
    @torch.no_grad()
    def sample(context):
        return model.generate(context, max_new_tokens=500)
"""


def test_dls301_sees_model_generate_as_running_the_model() -> None:
    found = lint_source(GENERATE, "example.py", select=["DLS301"])
    assert [f.line for f in found] == [16]
    assert "`nn.Dropout` on line 7" in found[0].message


def test_dls301_quiet_on_generate_after_eval() -> None:
    assert _codes(GENERATE.replace("model = GPT()", "model = GPT().eval()"), "DLS301") == []


# -- across the project's files --------------------------------------------------------------------

# https://github.com/pytorch/tutorials/issues/1624: the quickstart's `test()` calls `model.eval()`
# and `train()` never calls `model.train()`, so every epoch after the first trains in eval mode;
# here the two functions live in the project's own engine.py, as in torchvision's references
ENGINE = {
    "engine.py": """
        import torch
        def train(dataloader, model, loss_fn, optimizer):
            for X, y in dataloader:
                loss = loss_fn(model(X), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        def test(dataloader, model, loss_fn):
            model.eval()
            with torch.no_grad():
                return sum(loss_fn(model(X), y).item() for X, y in dataloader)
    """,
    "model.py": """
        import torch.nn as nn
        class NeuralNetwork(nn.Module):
            def __init__(self):
                super().__init__()
                self.stack = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 10))
            def forward(self, x):
                return self.stack(x)
    """,
    "main.py": """
        import torch
        from engine import test, train
        from model import NeuralNetwork
        model = NeuralNetwork()
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
        for t in range(5):
            train(train_dataloader, model, loss_fn, optimizer)
            test(test_dataloader, model, loss_fn)
    """,
}


def test_dls302_follows_train_and_test_imported_from_the_projects_engine(tmp_path, monkeypatch) -> None:
    _write(tmp_path, ENGINE)
    monkeypatch.chdir(tmp_path)
    found = _lint(tmp_path, "main.py", "DLS302")
    assert len(found) == 1 and found[0].startswith("9: ") and "`nn.Dropout` on line 6 of model.py" in found[0]


def test_dls302_quiet_when_the_engines_train_sets_train_mode(tmp_path, monkeypatch) -> None:
    # https://github.com/pytorch/vision/blob/main/references/classification/train.py: `train_one_epoch`
    # of the same project calls `model.train()` first
    files = dict(ENGINE)
    files["engine.py"] = files["engine.py"].replace("            for X, y in dataloader:\n                loss",
                                                    "            model.train()\n            for X, y in dataloader:\n"
                                                    "                loss", 1)
    _write(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    assert _lint(tmp_path, "main.py", "DLS302") == []


def test_dls302_quiet_on_a_model_the_project_shows_has_no_mode_dependent_layer(tmp_path, monkeypatch) -> None:
    # the quickstart's own NeuralNetwork is Linear + ReLU only: eval() changes nothing there
    files = dict(ENGINE)
    files["model.py"] = files["model.py"].replace(" nn.Dropout(0.2),", "")
    _write(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    assert _lint(tmp_path, "main.py", "DLS302") == []


@pytest.mark.parametrize(("itself", "base"), [
    ("from d2l import torch as d2l", "nn.Module"),
    ("import sys\n        d2l = sys.modules[__name__]\n        nn_Module = nn.Module", "d2l.nn_Module"),
])
def test_dls301_inside_a_module_whose_base_is_in_the_file_imported_as_itself(tmp_path, monkeypatch, itself,
                                                                             base) -> None:
    # https://github.com/d2l-ai/d2l-en/blob/master/d2l/torch.py: `d2l = sys.modules[__name__]`, then
    # `class RNNLMScratch(d2l.Classifier)`; its `predict` runs `self.rnn` and the caller sets the mode
    _write(tmp_path, {"d2l/__init__.py": "", "d2l/torch.py": f"""
        import torch
        from torch import nn
        {itself}
        class Module({base}):
            pass
        class Classifier(d2l.Module):
            pass
        class RNNLMScratch(d2l.Classifier):
            def predict(self, prefix, num_preds, vocab, device=None):
                state, outputs = None, [vocab[prefix[0]]]
                with torch.no_grad():
                    rnn_outputs, state = self.rnn(self.one_hot(outputs), state)
                return rnn_outputs
    """})
    monkeypatch.chdir(tmp_path)
    assert _lint(tmp_path, "d2l/torch.py", "DLS301") == []


def test_a_changed_dependency_changes_the_summary(tmp_path, monkeypatch) -> None:
    _write(tmp_path, ENGINE)
    monkeypatch.chdir(tmp_path)
    assert len(_lint(tmp_path, "main.py", "DLS302")) == 1
    engine = tmp_path / "engine.py"
    engine.write_text(engine.read_text().replace("    model.eval()\n", "    pass\n"))
    assert _lint(tmp_path, "main.py", "DLS302") == []  # the same process re-reads the changed engine.py


def test_dls401_sees_a_split_done_in_a_helper_of_another_project_file(tmp_path, monkeypatch) -> None:
    # https://github.com/amlynczak/Fundamentals-of-Data-Science-project solutions/split.py splits in a
    # helper module; the caller scales the whole data set first
    _write(tmp_path, {
        "solutions/__init__.py": "",
        "solutions/split.py": """
            from sklearn.model_selection import train_test_split
            def split_dataset(X_scaled, y, test_size=0.2, random_state=42):
                X_train, X_test, y_train, y_test = train_test_split(
                    X_scaled, y, test_size=test_size, random_state=random_state)
                return X_train, X_test, y_train, y_test
        """,
        "main.py": """
            from sklearn.preprocessing import StandardScaler
            from solutions.split import split_dataset
            X_scaled = StandardScaler().fit_transform(X)
            X_train, X_test, y_train, y_test = split_dataset(X_scaled, y)
        """,
    })
    monkeypatch.chdir(tmp_path)
    assert [line.split(":")[0] for line in _lint(tmp_path, "main.py", "DLS401")] == ["4"]
    (tmp_path / "main.py").write_text(textwrap.dedent("""
        from sklearn.preprocessing import StandardScaler
        from solutions.split import split_dataset
        X_train, X_test, y_train, y_test = split_dataset(X, y)
        scaler = StandardScaler().fit(X_train)
    """))
    assert _lint(tmp_path, "main.py", "DLS401") == []


# https://github.com/ThilinaRajapakse/simpletransformers/issues/941: with evaluate_during_training,
# `train()` calls `self.eval_model()`, whose `self.evaluate()` calls `model.eval()`, and the rest of
# the epoch trains in eval mode (language_modeling_model.py)
SIMPLETRANSFORMERS = """
    import torch
    class LanguageModelingModel:
        def train(self, train_dataloader, eval_file=None):
            model = self.model
            optimizer = torch.optim.AdamW(model.parameters(), lr=4e-5)
            model.train()
            for _ in range(self.args.num_train_epochs):
                for step, batch in enumerate(train_dataloader):
                    loss = model(batch, labels=batch)[0]
                    loss.backward()
                    optimizer.step()
                    model.zero_grad()
                    if self.args.evaluate_during_training and step % 2000 == 0:
                        results = self.eval_model(eval_file)
        def eval_model(self, eval_file):
            return self.evaluate(eval_file)
        def evaluate(self, eval_dataset):
            model = self.model
            model.eval()
            with torch.no_grad():
                return [model(batch)[0].mean().item() for batch in eval_dataset]
"""


def test_dls302_follows_self_methods_two_calls_deep() -> None:
    found = _unresolved(SIMPLETRANSFORMERS, "DLS302")
    assert [f.line for f in found] == [15]


def test_dls302_quiet_once_the_fix_restores_train_mode() -> None:
    fixed = SIMPLETRANSFORMERS.replace("results = self.eval_model(eval_file)",
                                       "results = self.eval_model(eval_file)\n                        model.train()")
    assert _unresolved(fixed, "DLS302") == []


# https://huggingface.co/docs/transformers/main_classes/model (PreTrainedModel.from_pretrained: "the
# model is set in evaluation mode by default"), as in https://github.com/huggingface/trl/issues/155
def test_dls301_quiet_on_a_pretrained_hugging_face_model() -> None:
    source = """
        import torch
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained("gpt2").to(device)
        with torch.no_grad():
            out = model.generate(input_ids, max_new_tokens=20)
    """
    assert _codes(source, "DLS301") == []


# https://github.com/pytorch/examples/pull/114: word_language_model/generate.py loaded the model and
# generated under no_grad without model.eval() (the model has dropout)
def test_dls301_on_a_loaded_model_that_generates_without_eval() -> None:
    source = """
        import torch
        with open(args.checkpoint, "rb") as f:
            model = torch.load(f, weights_only=False)
        hidden = model.init_hidden(1)
        with torch.no_grad():
            for i in range(args.words):
                output, hidden = model(input, hidden)
    """
    found = _unresolved(source, "DLS301")
    assert [f.line for f in found] == [8] and "cannot be resolved" in found[0].message
