"""Recall on public code for mechanisms of issue 12 that had no cited case (``benchmarks/recall_audit.py``
lists them): a model whose last layer is appended to a list that becomes ``nn.Sequential(*layers)``,
a legacy sklearn ``Imputer`` fit before the split, and cross-entropy on softmax probabilities in a
Lightning validation step.  Each case is a trimmed copy of the public file named in its comment
(a search-index file id: ``read_file`` with that id shows the file); ``expect`` maps each rule to
the lines it must flag.
"""

from __future__ import annotations

import textwrap

import pytest

from dlsan.lint.api import lint_source

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
]


@pytest.mark.parametrize(("code", "source", "expect"), CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_found_in_public_code(code: str, source: str, expect: dict[str, list[int]]) -> None:
    text = textwrap.dedent(source).lstrip("\n")
    for rule, lines in expect.items():
        assert [f.line for f in lint_source(text, "case.py", select=[rule])] == lines, rule
