"""Recall on public code for mechanisms of issue 12 that had no cited case (``benchmarks/recall_audit.py``
lists them): a model whose last layer is appended to a list that becomes ``nn.Sequential(*layers)``,
a legacy sklearn ``Imputer`` fit before the split, cross-entropy on softmax probabilities in a
Lightning validation step, a loss history kept with the graphs of ``sum(losses)``, a trainer whose
``_forward_pass()`` keeps training in eval mode, and a loss module of another project file that
wraps ``F.cross_entropy``.  Each case is a trimmed copy of the public file named in its comment
(a search-index file id: ``read_file`` with that id shows the file); ``expect`` maps each rule to
the lines it must flag.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dlsan.lint.api import lint_paths, lint_source

CASES = [
    # search-index file 33037478968: an MNIST GAN whose Discriminator appends its layers, the last an
    # nn.Sigmoid, to a list that becomes nn.Sequential(*layers); trained with nn.BCELoss()
    ("DLS503", """
        import torch
        import torch.nn as nn
        class Discriminator(nn.Module):
            def __init__(self):
                super(Discriminator,self).__init__()
                layers=[]
                layers.append(nn.Linear(in_features=28*28,out_features=512,bias=True))
                layers.append(nn.LeakyReLU(0.2,inplace=True))
                layers.append(nn.Linear(in_features=256, out_features=1, bias=True))
                layers.append(nn.Sigmoid())
                self.model=nn.Sequential(*layers)
            def forward(self, x):
                x=x.view(x.size(0),-1)
                validity=self.model(x)
                return validity
        dnet=Discriminator().to(device)
        bce=nn.BCELoss().to(device)
        for epoch in range(total_epochs):
            for i,data in enumerate(dataloader):
                real_loss=bce(dnet(real_images),ones)
                fake_loss=bce(dnet(fake_images.detach()),zeros)
    """, {"DLS503": [20, 21]}),
    # jindongwang/transferlearning code/DeepDA/loss_funcs/adv.py: the domain discriminator is
    # nn.Sequential(*layers) over a list literal ending in nn.Sigmoid(), fed to nn.BCELoss()
    ("DLS503", """
        import torch
        import torch.nn as nn
        class AdversarialLoss(nn.Module):
            def __init__(self):
                super(AdversarialLoss, self).__init__()
                self.domain_classifier = Discriminator()
            def get_adversarial_result(self, x, source=True, lamb=1.0):
                domain_pred = self.domain_classifier(x)
                domain_label = torch.ones(len(x), 1).long()
                loss_fn = nn.BCELoss()
                loss_adv = loss_fn(domain_pred, domain_label.float())
                return loss_adv
        class Discriminator(nn.Module):
            def __init__(self, input_dim=256, hidden_dim=256):
                super(Discriminator, self).__init__()
                layers = [
                    nn.Linear(input_dim, hidden_dim),
                    nn.BatchNorm1d(hidden_dim),
                    nn.ReLU(),
                    nn.Linear(hidden_dim, 1),
                    nn.Sigmoid()
                ]
                self.layers = torch.nn.Sequential(*layers)
            def forward(self, x):
                return self.layers(x)
    """, {"DLS503": [11]}),
    # search-index file 24151312527 (a "100 Days of ML Code" day 1-3 script): the legacy
    # sklearn.preprocessing.Imputer is fit on all rows before train_test_split, and the scaler is
    # then fit again on the test split
    ("DLS401", """
        import numpy as np
        import pandas as pd
        from sklearn.preprocessing import Imputer
        from sklearn.cross_validation import train_test_split
        from sklearn.preprocessing import StandardScaler
        dataset = pd.read_csv('./Datasets/Data.csv')
        X = dataset.iloc[ : , :-1].values
        Y = dataset.iloc[ : , -1].values
        imputer = Imputer(missing_values = "NaN", strategy = "mean", axis = 0)
        imputer = imputer.fit(X[ : , 1:3])
        X[ : , 1:3] = imputer.transform(X[ : , 1:3])
        X_train, X_test, Y_train, Y_test = train_test_split( X , Y , test_size = 0.2, random_state = 0)
        sc_X = StandardScaler()
        X_train = sc_X.fit_transform(X_train)
        X_test = sc_X.fit_transform(X_test)
    """, {"DLS401": [10], "DLS403": [15]}),
    # https://github.com/ariecattan/SciCo/issues/2 (models/muticlass.py): validation and test steps
    # softmax the logits before self.criterion = torch.nn.CrossEntropyLoss(); fixed upstream
    ("DLS502", """
        import torch
        import torch.nn as nn
        import pytorch_lightning as pl
        class MulticlassCrossEncoder(pl.LightningModule):
            def __init__(self, config, num_classes=4):
                super(MulticlassCrossEncoder, self).__init__()
                self.linear = nn.Linear(768, num_classes)
                self.criterion = torch.nn.CrossEntropyLoss()
            def training_step(self, batch, batch_idx):
                x, y = batch
                y_hat = self(*x)
                loss = self.criterion(y_hat, y)
                return loss
            def validation_step(self, batch, batch_idx):
                x, y = batch
                y_hat = self(*x)
                y_hat = torch.softmax(y_hat, dim=1)
                loss = self.criterion(y_hat, y)
                return loss
    """, {"DLS502": [18]}),
    # search-index file 28822590611: an epidemic-model fit sums each time step's losses into
    # batch_loss (`batch_loss += sum(losses)`), adds it to epoch_loss and appends epoch_loss, graph
    # and all, to loss_history: every epoch's graph stays alive
    ("DLS101", """
        import torch
        from random import shuffle
        def fit_data_synthetic(model, time_series_dict, data_fitting_loss, lr, epochs, t_0, initial_conditions,
                               param_bundle):
            time_sequence = list(time_series_dict.keys())
            loss_history, min_loss = [], float('inf')
            optimizer = torch.optim.Adam(param_bundle, lr=lr)
            for epoch in range(epochs):
                epoch_loss = 0.
                batch_loss = 0.
                shuffle(time_sequence)
                for t in time_sequence:
                    true_pop = time_series_dict[t]
                    t_tensor = torch.Tensor([t]).reshape(-1, 1)
                    s_hat, a_hat, i_hat, v_hat, r_hat = model.parametric_solution(t_tensor, t_0, initial_conditions,
                                                                                  param_bundle)
                    losses = data_fitting_loss(t_tensor, true_pop, s_hat, a_hat, i_hat, v_hat, r_hat)
                    batch_loss += sum(losses)
                batch_loss = batch_loss / len(time_sequence)
                epoch_loss += batch_loss
                batch_loss.backward(retain_graph=False)
                optimizer.step()
                optimizer.zero_grad()
                loss_history.append(epoch_loss)
            return loss_history
    """, {"DLS101": [24]}),
]


@pytest.mark.parametrize(("code", "source", "expect"), CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_found_in_public_code(code: str, source: str, expect: dict[str, list[int]]) -> None:
    text = textwrap.dedent(source).lstrip("\n")
    for rule, lines in expect.items():
        assert [f.line for f in lint_source(text, "case.py", select=[rule])] == lines, rule


# search-index file 31470925489: a segmentation Trainer runs every batch through the subclass's
# self._forward_pass(batch); _evaluate() switches self.model to eval mode and the training loop of
# _train_one_epoch goes on after it without model.train(), so dropout and batch-norm stay off
# until the next epoch.  The model is a constructor argument (its class cannot be resolved), so
# DLS302 reports it with the report-unresolved option.
FORWARD_PASS_TRAINER = """
    import torch
    from torch import nn
    from abc import ABC, abstractmethod
    class Trainer(ABC):
        def __init__(self, model: nn.Module, criterion: nn.Module, evaluation_steps: int) -> None:
            self.model = model
            self.criterion = criterion
            self.evaluation_steps = evaluation_steps
        @abstractmethod
        def _forward_pass(self, batch):
            raise NotImplementedError
        def _train_one_epoch(self, train_loader, val_loader, optimizer, scaler):
            self.model.train()
            total_train_loss = 0
            for batch_idx, batch in enumerate(train_loader):
                optimizer.zero_grad()
                train_loss, _, _ = self._forward_pass(batch)
                total_train_loss += train_loss.item()
                scaler.scale(train_loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if (batch_idx + 1) % self.evaluation_steps == 0:
                    stats = self._evaluate(val_loader)
        def _evaluate(self, loader):
            self.model.eval()
            total_val_loss = 0
            with torch.no_grad():
                for batch in loader:
                    val_loss, pred, target = self._forward_pass(batch)
                    total_val_loss += val_loss.item()
            return {"loss": total_val_loss / len(loader)}
"""


def test_eval_mode_kept_by_a_helper_of_a_forward_pass_trainer() -> None:
    text = textwrap.dedent(FORWARD_PASS_TRAINER).lstrip("\n")
    reported = lint_source(text, "trainer.py", select=["DLS302"], options={"DLS302": {"report-unresolved": True}})
    assert [f.line for f in reported] == [23]
    assert "cannot be resolved" in reported[0].message
    assert lint_source(text, "trainer.py", select=["DLS302"]) == []  # unresolved models: quiet by default


# speedinghzl/Pytorch-Deeplab issue #2, confirmed by the maintainer: train.py's loss_calc applies
# LogSoftmax to the prediction and hands it to CrossEntropy2d from the project's loss.py, whose
# forward rearranges it and calls F.cross_entropy (log_softmax twice).  Files at commit 477911c.
DEEPLAB_LOSS = """
    import torch.nn.functional as F
    import torch.nn as nn
    class CrossEntropy2d(nn.Module):
        def __init__(self, size_average=True, ignore_label=255):
            super(CrossEntropy2d, self).__init__()
            self.size_average = size_average
            self.ignore_label = ignore_label
        def forward(self, predict, target, weight=None):
            n, c, h, w = predict.size()
            target_mask = (target >= 0) * (target != self.ignore_label)
            target = target[target_mask]
            predict = predict.transpose(1, 2).transpose(2, 3).contiguous()
            predict = predict[target_mask.view(n, h, w, 1).repeat(1, 1, 1, c)].view(-1, c)
            loss = F.cross_entropy(predict, target, weight=weight, size_average=self.size_average)
            return loss
"""
DEEPLAB_TRAIN = """
    import torch.nn as nn
    from torch.autograd import Variable
    from loss import CrossEntropy2d
    def loss_calc(pred, label, gpu):
        label = Variable(label.long()).cuda(gpu)
        m = nn.LogSoftmax()
        criterion = CrossEntropy2d().cuda(gpu)
        pred = m(pred)
        return criterion(pred, label)
"""


def test_log_softmax_into_a_loss_module_of_another_project_file(tmp_path: Path) -> None:
    (tmp_path / "loss.py").write_text(textwrap.dedent(DEEPLAB_LOSS).lstrip("\n"))
    (tmp_path / "train.py").write_text(textwrap.dedent(DEEPLAB_TRAIN).lstrip("\n"))
    found = lint_paths([tmp_path], select=["DLS502"]).findings
    assert [(Path(f.path).name, f.line) for f in found] == [("train.py", 9)]
    # the same loss module given its input after a temperature (not a rearrangement) stays quiet
    scaled = DEEPLAB_LOSS.replace("predict.transpose(1, 2)", "(predict / 2.0).transpose(1, 2)")
    (tmp_path / "loss.py").write_text(textwrap.dedent(scaled).lstrip("\n"))
    assert lint_paths([tmp_path], select=["DLS502"]).findings == []
