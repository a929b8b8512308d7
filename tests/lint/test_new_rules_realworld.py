"""The fifteen rules of issue 13 on code taken from public repositories and bug reports.

Each case is a trimmed copy of the public code named in its comment (the bug as reported, or the
code as it stands), so the rules are held to what real projects write, not only to their own
examples.  ``expect`` lists the lines that must be flagged; every other line must stay quiet.
"""

from __future__ import annotations

import textwrap

import pytest

from dlsan.lint.api import lint_source

CASES = [
    # pyg-team/pytorch_geometric examples/mem_pool.py (forward of the MemPool example)
    ("DLS303", """
        import torch
        import torch.nn.functional as F
        class Net(torch.nn.Module):
            def forward(self, x, edge_index, batch):
                x = self.lin(x)
                x, S1 = self.mem1(x, batch)
                x = F.leaky_relu(x)
                x = F.dropout(x, p=self.dropout)
                x, S2 = self.mem2(x)
                return F.log_softmax(x.squeeze(1), dim=-1), S1, S2
    """, [8]),
    # pyg-team/pytorch_geometric examples/shadow.py: one dropout gated, the one before it not
    ("DLS303", """
        import torch
        import torch.nn.functional as F
        class Net(torch.nn.Module):
            def forward(self, x, edge_index, batch, root_n_id):
                x = self.conv1(x, edge_index).relu()
                x = F.dropout(x, p=0.3)
                x = self.conv2(x, edge_index).relu()
                x = F.dropout(x, p=0.3, training=self.training)
                return x
    """, [6]),
    # rixwew/pytorch-fm issue #21 (fixed by the maintainer in 8ac848d): attention dropout always on
    ("DLS303", """
        import torch
        import torch.nn.functional as F
        class AttentionalFactorizationMachine(torch.nn.Module):
            def forward(self, x):
                attn_scores = F.softmax(self.projection(x), dim=1)
                attn_scores = F.dropout(attn_scores, p=self.dropouts[0])
                return self.fc(attn_scores)
    """, [6]),
    # BogiHsu/Tacotron2-PyTorch issue #8: prenet dropout kept on at inference on purpose (NVIDIA/tacotron2#247)
    ("DLS303", """
        import torch.nn as nn
        import torch.nn.functional as F
        class Prenet(nn.Module):
            def forward(self, x):
                for linear in self.layers:
                    x = F.dropout(F.relu(linear(x)), p=0.5, training=True)
                return x
    """, []),
    # lucidrains/vit-pytorch vit_pytorch/vivit.py flash_attn: dropout_p from self, not gated
    ("DLS303", """
        import torch.nn as nn
        import torch.nn.functional as F
        class Attention(nn.Module):
            def flash_attn(self, q, k, v, mask=None):
                out = F.scaled_dot_product_attention(
                    q, k, v,
                    attn_mask=mask,
                    dropout_p=self.dropout_p,
                    is_causal=False,
                )
                return out
    """, [5]),
    # pytorch/examples issue #1196: distributed/minGPT-ddp/mingpt/trainer.py clips scaled gradients
    ("DLS509", """
        import torch
        class Trainer:
            def _run_batch(self, source, targets, train=True):
                _, loss = self.model(source, targets)
                if train:
                    self.optimizer.zero_grad(set_to_none=True)
                    if self.config.use_amp:
                        self.scaler.scale(loss).backward()
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_norm_clip)
                        self.scaler.step(self.optimizer)
                        self.scaler.update()
                    else:
                        loss.backward()
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_norm_clip)
                        self.optimizer.step()
                return loss.item()
    """, [9]),
    # milesial/Pytorch-UNet issue #468 (fixed by PR #470): train.py before the fix
    ("DLS509", """
        import torch
        from torch import nn
        grad_scaler = torch.cuda.amp.GradScaler(enabled=amp)
        for epoch in range(1, epochs + 1):
            for batch in train_loader:
                masks_pred = model(images)
                loss = criterion(masks_pred, true_masks)
                optimizer.zero_grad(set_to_none=True)
                grad_scaler.scale(loss).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), gradient_clipping)
                grad_scaler.step(optimizer)
                grad_scaler.update()
    """, [10]),
    # milesial/Pytorch-UNet train.py after PR #470
    ("DLS509", """
        import torch
        grad_scaler = torch.cuda.amp.GradScaler(enabled=amp)
        for batch in train_loader:
            grad_scaler.scale(loss).backward()
            grad_scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), gradient_clipping)
            grad_scaler.step(optimizer)
            grad_scaler.update()
    """, []),
    # pyg-team/pytorch_geometric examples/explain/gnn_explainer_ba_shapes.py train()
    ("DLS510", """
        import torch
        import torch.nn.functional as F
        def train():
            model.train()
            optimizer.zero_grad()
            out = model(data.x, data.edge_index)
            loss = F.cross_entropy(out[train_idx], data.y[train_idx])
            torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
            loss.backward()
            optimizer.step()
            return float(loss)
    """, [8]),
    # jindongwang/transferlearning code/deep/DeepMEDA/main.py test()
    ("DLS404", """
        import torch
        import torch.nn.functional as F
        def test(model, dataloader):
            model.eval()
            test_loss = 0
            correct = 0
            with torch.no_grad():
                for data, target in dataloader:
                    pred = model.predict(data)
                    test_loss += F.nll_loss(F.log_softmax(pred, dim=1), target).item()
                    pred = pred.data.max(1)[1]
                    correct += pred.eq(target.data.view_as(pred)).cpu().sum()
                test_loss /= len(dataloader)
                print(f'Accuracy: ({100. * correct / len(dataloader):.2f}%)')
            return correct
    """, [14]),
    # mrdbourke/pytorch-deep-learning going_modular/going_modular/engine.py: per-batch accuracy averaged
    ("DLS404", """
        import torch
        def train_step(model, dataloader, loss_fn, optimizer, device):
            train_loss, train_acc = 0, 0
            for batch, (X, y) in enumerate(dataloader):
                y_pred = model(X)
                y_pred_class = torch.argmax(torch.softmax(y_pred, dim=1), dim=1)
                train_acc += (y_pred_class == y).sum().item()/len(y_pred)
            train_acc = train_acc / len(dataloader)
            return train_loss, train_acc
    """, []),
    # pyg-team/pytorch_geometric torch_geometric/contrib/explain/pgm_explainer.py perturb_features_on_node
    ("DLS604", """
        import torch
        from torch import Tensor
        def _perturb_features_on_node(self, x: Tensor, index: Tensor) -> Tensor:
            x_perturb = x.detach().clone()
            perturb_array = x_perturb[index]
            epsilon = 0.05 * torch.max(x, dim=0).values
            random_perturbations = torch.rand(perturb_array.shape) * 2 * epsilon - epsilon
            perturb_array[:, self.feature_index] = perturb_array[self.feature_index] + random_perturbations
            perturb_array.clamp(min=0, max=torch.max(x, dim=0))
            return x_perturb
    """, [9]),
    # hunkim/PyTorchZeroToAll 10_1_cnn_mnist.py test()
    ("DLS305", """
        import torch
        from torch.autograd import Variable
        def test():
            model.eval()
            correct = 0
            for data, target in test_loader:
                data, target = Variable(data, volatile=True), Variable(target)
                output = model(data)
    """, [7]),
    # MorvanZhou/PyTorch-Tutorial tutorial-contents/406_GAN.py: log of a discriminator ending in Sigmoid
    ("DLS512", """
        import torch
        D = torch.nn.Sequential(
            torch.nn.Linear(15, 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, 1),
            torch.nn.Sigmoid(),
        )
        for step in range(10000):
            prob_artist0 = D(artist_paintings)
            prob_artist1 = D(G_paintings.detach())
            D_loss = - torch.mean(torch.log(prob_artist0) + torch.log(1. - prob_artist1))
    """, [11]),
    # huggingface/pytorch-image-models timm/layers/pos_embed_rel.py: log-spaced coordinates, not a bug
    ("DLS512", """
        import torch
        relative_coords_table = torch.sign(relative_coords_table) * torch.log(
            1.0 + relative_coords_table.abs())
    """, []),
    # pyg-team/pytorch_geometric torch_geometric/nn/aggr/scaler.py: degree counts
    ("DLS512", """
        import torch
        deg = degree(index, dim_size, dtype=x.dtype)
        amp = torch.log(deg + 1) / avg_deg_log
    """, []),
    # pytorch/pytorch issue #26338 (soumith: "it makes sense to mention it for the functional version")
    ("DLS303", """
        import torch.nn as nn
        import torch.nn.functional as F
        class Net(nn.Module):
            def forward(self, x):
                x = F.dropout(x)
                return x
    """, [5]),
    # Lightning-AI/pytorch-lightning examples/fabric/image_classifier/train_torch.py (DLS405 is opt-in)
    ("DLS405", """
        import torch
        from torchvision.datasets import MNIST
        train_dataset = MNIST(DATASETS_PATH, train=True, download=True, transform=transform)
        test_dataset = MNIST(DATASETS_PATH, train=False, transform=transform)
        train_loader = torch.utils.data.DataLoader(
            train_dataset,
            batch_size=hparams.batch_size,
        )
        test_loader = torch.utils.data.DataLoader(test_dataset, batch_size=hparams.batch_size)
    """, [5]),
    # public GitHub code (search-index file 9038814157, a HomographyNet training script): validation
    # after `model.eval` without the call
    ("DLS304", """
        import torch
        def train(args):
            for epoch in range(EPOCH):
                model.train()
                for batch in tqdm(train_loader):
                    loss.backward()
                    optimizer.step()
                model.eval
                valid_loss = []
                for batch in tqdm(valid_loader):
                    with torch.no_grad():
                        outs = model(images)
    """, [8]),
    # public GitHub code (search-index file 34591489821): a timing helper that never leaves train mode
    ("DLS304", """
        import time
        import torch
        def measure_time_torch(n_iter, data, model, device):
            model.to(device)
            model.eval
            with torch.no_grad():
                start = time.time()
                for _ in range(n_iter):
                    _ = model(data)
    """, [5]),
    # public GitHub code (search-index file 22994759806): load_CIFAR10 gives the test set the
    # training augmentation
    ("DLS406", """
        import torchvision
        import torchvision.transforms as transforms
        def load_CIFAR10(train_transform=None, root_dir='./data/cifar10'):
            if train_transform is None:
                train_transform = transforms.Compose([
                    transforms.RandomCrop(32, padding=4),
                    transforms.RandomHorizontalFlip(),
                    transforms.ToTensor(),
                ])
            train_dataset = torchvision.datasets.CIFAR10(root_dir, transform=train_transform, download=True)
            test_dataset = torchvision.datasets.CIFAR10(root_dir, train=False, transform=train_transform, download=True)
            return train_dataset, test_dataset
    """, [11]),
    # the same pattern at module level
    ("DLS406", """
        import torchvision
        import torchvision.transforms as transforms
        train_transform = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.ToTensor()])
        test_dataset = torchvision.datasets.CIFAR10('./data', train=False, transform=train_transform)
    """, [4]),
    # public GitHub code (search-index file 20808173670): the "train" transform is only ToTensor
    ("DLS406", """
        import torchvision
        import torchvision.transforms as transforms
        train_transform = transforms.Compose([transforms.ToTensor()])
        test_data = torchvision.datasets.MNIST(root='./mnist/', train=False, transform=train_transform)
    """, []),
    # public GitHub code (search-index file 41849002772, a wafer-map segmentation trainer; its author
    # notes "BCEWithLogitsLoss already contains the sigmoid" in a TODO next to it)
    ("DLS508", """
        import torch
        import torch.nn as nn
        def validate(self):
            for wafer_map, pattern_mask in self.val_loader:
                with torch.set_grad_enabled(False):
                    outputs = self.model(wafer_map)
                    loss = nn.BCEWithLogitsLoss()(torch.sigmoid(outputs), pattern_mask)
    """, [7]),
    # public GitHub code (search-index file 12171042509): the densenet transfer-learning notebook
    ("DLS605", """
        import torch
        from torchvision import models
        model = models.densenet121(pretrained=True)
        for param in model.parameters():
            param.require_grad = False
    """, [5]),
    # public GitHub code (search-index file 46610334239): "fix weights for training discriminator"
    ("DLS605", """
        import torch
        def train_step(self):
            self.global_discriminator_optimizer.step()
            for p in self.local_discriminator.parameters():
                p.require_grad = False
            for p in self.global_discriminator.parameters():
                p.require_grad = False
    """, [5, 7]),
    # public GitHub code (search-index file 15166434659, a BERT PositionalEmbedding): harmless
    ("DLS605", """
        import torch
        import torch.nn as nn
        class PositionalEmbedding(nn.Module):
            def __init__(self, d_model, max_len=512):
                super().__init__()
                pe = torch.zeros(max_len, d_model).float()
                pe.require_grad = False
    """, []),
    # public GitHub code (search-index file 2394719021): nll_loss of a softmax in the training loop
    ("DLS507", """
        import torch.nn.functional as F
        for e in range(epochs):
            for i, x, y in dataloader:
                logits = model(x)
                loss = F.nll_loss(F.softmax(logits), y)
                model.zero_grad()
                loss.backward()
    """, [5]),
    # public GitHub code (search-index file 529900207): FocalLoss2d gathers -p on purpose
    ("DLS507", """
        import torch
        import torch.nn.functional as F
        def forward(self, inputs, targets):
            focal_frequency = F.nll_loss(F.softmax(inputs, dim=1), targets, reduction='none')
            focal_frequency += 1.0
            focal_frequency = torch.pow(focal_frequency, 2)
    """, []),
    # public GitHub code (search-index file 21221415909): entropy through log(softmax)
    ("DLS507", """
        import torch
        import torch.nn.functional as F
        def _ent(out):
            return - torch.mean(torch.log(F.softmax(out + 1e-6)))
    """, [4]),
    # public GitHub code (search-index files 44857510277, 60328586957, 71651957162): torch.empty filled
    # before any read (row writes, copy_, a collective writing into it)
    ("DLS102", """
        import torch
        import torch.distributed as dist
        def sigma_points(state_mu, L, weight, state_dim, device):
            sigmapts = torch.empty(2 * state_dim + 1, state_dim, device=device)
            sigmapts[0, :] = state_mu
            sigmapts[1 : state_dim + 1, :] = state_mu + L * weight
            return sigmapts
        boundary = torch.empty(4, dtype=torch.int32)
        boundary.copy_(boundary_cpu)
        gathered = torch.empty(world, device=device)
        dist.all_gather_into_tensor(gathered, torch.tensor([float(rank)], device=device))
    """, []),
    # alan-turing-institute/deepsensor issue #47 (closed by the maintainer with a Trainer class)
    ("DLS511", """
        import torch
        def train_epoch(model, tasks, lr=5e-5, batch_size=None):
            opt = torch.optim.Adam(model.model.parameters(), lr=lr)
            for task in tasks:
                opt.zero_grad()
                task_losses = model.loss_fn(task, normalise=True)
                task_losses.backward()
                opt.step()
        for epoch in range(n_epochs):
            batch_losses = train_epoch(model, train_tasks)
    """, [3]),
]


@pytest.mark.parametrize("code, source, expect", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_real_code(code, source, expect):
    findings = lint_source(textwrap.dedent(source).lstrip("\n"), select=[code])
    assert sorted(f.line for f in findings if f.code == code) == expect
