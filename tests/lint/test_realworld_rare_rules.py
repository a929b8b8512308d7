"""The rules that never fired on whole public repositories, on public files that hold their pattern.

DLS102, DLS304, DLS406, DLS507, DLS508, DLS511 and DLS605 made no finding on the shared corpus and
the mirrored repositories, so their precision there is unmeasured.  These cases are trimmed copies of
public GitHub files found with the code search index's exact-string look-up (`find_string`) for the
pattern of each rule (``optimizer.zero_grad`` ending a line, ``torch.log(F.softmax(``,
``binary_cross_entropy_with_logits(torch.sigmoid(``, ``.require_grad = `` ...).  That look-up gives a
file id, not the repository, so each case cites the id (``read_file`` with that id shows the file).
Every hit was judged by reading the file, and the cases are those verdicts: the bug as written
(``expect`` lists the lines that must be flagged, all judged true unless the comment says
debatable) and the look-alike that is correct (``expect`` empty).  Two false positives this sample
found were fixed in the rules (DLS605 on a tensor then wrapped in ``nn.Parameter``, DLS511 on a
plain SGD) and are kept here as look-alikes.  Whole-repository verdicts live in
``benchmarks/realcode_verdicts_newrules.jsonl`` (``benchmarks/realcode_precision.py``).
"""

from __future__ import annotations

import json
import textwrap

import pytest

from dlsan.lint.api import lint_source
from dlsan.lint.engine import RuleSelection
from dlsan.lint.notebook_lint import notebook_result
from dlsan.lint.registry import all_rules

CASES = [
    # --- DLS304 method-not-called -------------------------------------------------------------
    # search-index file 71125126962: test_loop of a softmax classifier scores in training mode
    ("DLS304", """
        import torch
        def test_loop(data, model):
            model.eval
            acc = 0
            for batch_idx, (X, y) in enumerate(data):
                with torch.no_grad():
                    pred = model(X)
    """, [3]),
    # search-index file 25745047107: ONNX export of a CNN with dropout, left in training mode
    ("DLS304", """
        import torch.onnx
        import torch.nn as nn
        model = SimpleCNN(num_classes)
        model.load_state_dict(state_dict)
        model.eval
        dummy_input = torch.randn(1, 3, 256, 256)
        torch.onnx.export(model, dummy_input, "cnn_tomato.onnx", opset_version=11)
    """, [5]),
    # search-index file 37361076342: a validation epoch template
    ("DLS304", """
        import torch
        def validate_epoch(args, val_loader, model, evaluator):
            model.eval
            evaluator.reset()
            with torch.no_grad():
                for (inputs, labels) in val_loader:
                    preds = model(inputs)
                    evaluator.process(preds, labels)
            return evaluator
    """, [3]),
    # search-index file 46244758051: a flower-classifier training loop whose gradients are never cleared
    ("DLS304", """
        import torch
        def train(model, trainloader, criterion, optimizer, epochs, device):
            for e in range(epochs):
                for inputs, labels in trainloader:
                    inputs, labels = inputs.to(device), labels.to(device)
                    optimizer.zero_grad
                    log_ps = model.forward(inputs)
                    loss = criterion(log_ps, labels)
                    loss.backward()
                    optimizer.step()
    """, [6]),
    # search-index file 21150103455: an l2hmc-style trainer step (clears nothing before backward)
    ("DLS304", """
        import torch
        class Trainer:
            def train_step(self, xinit, beta):
                xout, metrics = self.dynamics((xinit, beta))
                loss = self.loss_fn(x_init=xinit, x_prop=xout, acc=metrics['acc'])
                self.optimizer.zero_grad
                self.accelerator.backward(loss)
                self.optimizer.step()
                return xout.detach(), metrics
    """, [6]),
    # search-index file 6730411320: gradient accumulation whose reset is a no-op
    ("DLS304", """
        import torch
        import torch.nn.functional as F
        def train(classifier, loader, optimizer, cfg):
            for i_batch, (points, target) in enumerate(loader):
                pred = classifier(points)
                loss = F.nll_loss(pred, target.long())
                loss.backward()
                if int(cfg['accumulation_interval']) % (i_batch + 1) == 0:
                    optimizer.step()
                    optimizer.zero_grad
    """, [10]),
    # search-index file 32634797673: a multi-agent PPO update that never back-propagates
    ("DLS304", """
        import torch
        def update(self, i, loss):
            self.joint_policies[i].optimizer.zero_grad()
            loss.backward
            torch.nn.utils.clip_grad_norm_(self.joint_policies[i].parameters(), self.max_grad_norm)
            self.joint_policies[i].optimizer.step()
    """, [4]),
    # search-index files 31490509217, 8842449403, 31426987233, 8848048006, 31293974494, 32241809226
    # (copies of one segmentation trainer) and 30736785367, 30259190038 (an EMNIST trainer): the
    # epoch loop's `model.train` never undoes the validation's `model.eval()`
    ("DLS304", """
        import torch
        for ep in range(num_epochs):
            print("Learning rate:", optimizer.param_groups[0]['lr'])
            model.train
            for batch_idx, (subject) in enumerate(train_loader):
                image, mask = subject['image'], subject['gt']
                optimizer.zero_grad()
                loss = loss_fn(model(image), mask)
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                validate(model, val_loader)
    """, [4]),
    # search-index files 27434515335 (a VAE) and 47607672632 (an EMNIST CNN): train() starts with
    # a no-op, harmless only while nothing has put the model in eval mode before
    ("DLS304", """
        import torch
        def train_model(model, optimizer, criterion, device, epochs=5):
            model.train
            for epoch in range(epochs):
                for images, labels in train_loader:
                    optimizer.zero_grad()
                    loss = criterion(model(images.to(device)), labels.to(device))
                    loss.backward()
                    optimizer.step()
    """, [3]),
    # look-alikes: search-index files 68282967285 and 2417721076 keep the bound methods to wrap them
    ("DLS304", """
        import torch
        class StepSpy:
            def __init__(self, optimizer):
                self._real_zero = optimizer.zero_grad
                self._real_step = optimizer.step
                optimizer.zero_grad = self._zero_grad
        orig_zero_grad = optimizer.zero_grad
    """, []),
    # look-alike: search-index file 45764729592, a numpy framework of its own (no torch)
    ("DLS304", """
        import numpy as np
        import modules as m
        def tester(model):
            model.eval
            prediction = model.forward(mnist.test_images[0][:, np.newaxis])
    """, []),

    # --- DLS507 nll-loss-on-probabilities -----------------------------------------------------
    # search-index file 7876997244: distillation KL on log(softmax)
    ("DLS507", """
        import torch
        import torch.nn.functional as F
        def forward(self, logits, t_prob, n):
            kl_criterion = torch.nn.KLDivLoss()
            loss = kl_criterion(torch.log(F.softmax(logits.view(-1, n), dim=-1)), F.softmax(t_prob.view(-1, n), dim=-1))
            return loss
    """, [5]),
    # search-index file 42658399134: a CLIP-guided few-shot context loss
    ("DLS507", """
        import torch
        import torch.nn.functional as F
        def set_forward_loss(self, image, target):
            feat = self.emb_func(image)
            ctx_loss = self.loss_ctx(torch.log(F.softmax(self.context_classifier(feat), dim=1)),
                                     F.softmax(self.context_classifier(feat), dim=1))
            return ctx_loss
    """, [5]),
    # search-index file 25830768474: a SeqGAN generator's policy-gradient loss
    ("DLS507", """
        import torch
        import torch.nn.functional as F
        def forward(self, out, y_onehot, rewards):
            out = out.view(-1, out.size(2))
            log_p_hat = torch.sum(y_onehot * torch.log(F.softmax(out)), 1)
            return torch.sum(log_p_hat * rewards)
    """, [5]),
    # search-index file 31535732664: federated mutual learning, log-probabilities for a KL
    ("DLS507", """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        def fml_loss(logits, fix_logits):
            KLdiv = nn.KLDivLoss(reduction='batchmean')
            log_prob = torch.log(F.softmax(logits, dim=2))
            fix_log_prob = torch.log(F.softmax(fix_logits, dim=2))
            return KLdiv(log_prob, fix_log_prob)
    """, [6, 7]),
    # search-index file 33513612903: a Bayesian network's classification loss on probabilities
    ("DLS507", """
        import torch
        import torch.nn.functional as F
        class BNN:
            def _build_likelihood(self):
                logits = self._kern.fast_1sample_equivalent_BNN(self.X, Ws=self.Ws, bs=self.bs)
                return F.nll_loss(F.softmax(logits), self.Y)
    """, [6]),
    # search-index file 26332314530: early-exit classification loss through softmax(...).log()
    ("DLS507", """
        import torch
        import torch.nn.functional as F
        def forward(self, pred_exits, final_target, num_ee):
            classif_loss = 0
            for i in range(num_ee):
                classif_loss += F.nll_loss(F.softmax(pred_exits[i]).log(), final_target)
            return classif_loss
    """, [6]),
    # look-alikes: search-index files 59183316954 and 40292772714 take an entropy with an epsilon
    # guard, 20470412264 feeds nll_loss log_softmax (the softmax version commented out)
    ("DLS507", """
        import torch
        import torch.nn.functional as F
        h = (-F.softmax(l, -1) * torch.log(F.softmax(l, -1) + 1e-9)).sum(-1).mean()
        entropy = (-F.softmax(post_topic, dim=-1) * torch.log(F.softmax(post_topic, dim=-1) + 1e-20)).sum(-1)
        lo = F.nll_loss(F.log_softmax(l1, dim=1), label_ph_var)
    """, []),
    # look-alike: search-index file 6693074920, focal weights gather -p with reduction='none'
    ("DLS507", """
        import torch
        import torch.nn.functional as F
        def focal_loss(input, target, weights):
            focal_frequency = F.nll_loss(F.softmax(input, dim=1), target, reduction='none')
            focal_frequency += 1.0
            return torch.pow(focal_frequency, 2)
    """, []),
    # look-alike: search-index file 3125645882, an autograd library of its own whose `F` is not torch's
    ("DLS507", """
        import numpy as np
        import detorch
        import detorch.functional as F
        x = detorch.Tensor(np.random.randn(100, 10))
        y_softmax_nll = F.nll_loss(F.softmax(x), t)
    """, []),

    # --- DLS508 sigmoid-before-bce-with-logits ------------------------------------------------
    # search-index file 2564854337: a segmentation loss module, BCE with logits of a sigmoid twice
    ("DLS508", """
        import torch
        import torch.nn.functional as F
        def calc_loss(pred, target, bce_weight=0.5):
            bce = F.binary_cross_entropy_with_logits(torch.sigmoid(pred), target)
            return bce * bce_weight
        def bce_tversky_loss(pred, target, bce_weight=0.5):
            bce = F.binary_cross_entropy_with_logits(torch.sigmoid(pred), target)
            return bce
    """, [4, 7]),
    # search-index file 433620259: incremental-learning distillation, the student's logits squashed
    ("DLS508", """
        import torch
        import torch.nn.functional as F
        def kd_loss(logits, logits_last_step):
            old_target = torch.sigmoid(logits_last_step)
            old_task_size = old_target.shape[1]
            return F.binary_cross_entropy_with_logits(torch.sigmoid(logits[..., :old_task_size]), old_target)
    """, [6]),
    # search-index files 13422032132 and 13918866939: multi-label defect classifiers
    ("DLS508", """
        import torch
        import torch.nn.functional as F
        class Model:
            def compute_loss_multilabel(self, logits, target):
                return F.binary_cross_entropy_with_logits(torch.sigmoid(logits), target,
                                                          pos_weight=self.train_dataset.wts.to(self.device))
    """, [5]),
    # search-index file 44324380577: a noise-invariant mask loss for source separation
    ("DLS508", """
        import torch
        import torch.nn.functional as F
        def mask_loss(est_mask, target_masks, weight, n):
            return torch.mean(torch.stack([
                F.binary_cross_entropy_with_logits(torch.sigmoid(est_mask), torch.sigmoid(target_masks[i]), weight)
                for i in range(n)
            ]))
    """, [5]),
    # look-alike: search-index file 18229073753 passes the logits (the sigmoid version commented out)
    ("DLS508", """
        import torch
        import torch.nn.functional as F
        loss2 = F.binary_cross_entropy_with_logits(input, target, reduction='none')
        # loss2 = F.binary_cross_entropy_with_logits(torch.sigmoid(input), target, reduction='none')
        probs = torch.sigmoid(input)
    """, []),

    # --- DLS605 requires-grad-typo ------------------------------------------------------------
    # search-index file 22237243539: an attention model's set_train_false freezes nothing
    ("DLS605", """
        import torch
        import torch.nn as nn
        class Attention(nn.Module):
            def set_train_false(self):
                for p in self.model.parameters():
                    p.requires_grads = False
    """, [6]),
    # search-index file 22299324044: the script calling it freezes the reconstruction head the same way
    ("DLS605", """
        import torch
        for p in model.reconstruct_image.parameters():
            p.requires_grads = False
    """, [3]),
    # search-index file 18476463659: a transfer-learning backbone meant to be frozen
    ("DLS605", """
        import torch
        class Net(torch.nn.Module):
            def _reformat_model(self, freeze_weights):
                if freeze_weights:
                    for params in self.pre_trained_model.parameters():
                        params.requires_grads = False
    """, [6]),
    # search-index file 9370027587: few-shot fine-tuning of the head only
    ("DLS605", """
        import torch
        def finetune(body, head, params):
            if params.ft_parts == "head":
                for p in body.parameters():
                    p.requires_grads = False
    """, [5]),
    # search-index files 37887952807 and 46675350037: frozen VGG features
    ("DLS605", """
        import torch
        from torchvision import models
        vgg16 = models.vgg16_bn(weights='VGG16_BN_Weights.DEFAULT')
        for param in vgg16.features.parameters():
            param.require_grad = False
    """, [5]),
    # search-index file 31085407792: the typo is harmless, nn.Parameter turns gradients on itself
    ("DLS605", """
        import torch
        import torch.nn as nn
        class Encoder(nn.Module):
            def __init__(self, input_dim):
                super().__init__()
                clsToken = torch.zeros(1, 1, input_dim).float().cuda()
                clsToken.require_grad = True
                self.clsToken = nn.Parameter(clsToken)
    """, []),
    # look-alikes: search-index files 2455754637, 55221837545, 37115518690 keep lists named
    # requires_grads on ctx or self
    ("DLS605", """
        import torch
        class Mul(torch.autograd.Function):
            @staticmethod
            def forward(ctx, input_a, input_b):
                ctx.requires_grads = [i for i, inp in enumerate((input_a, input_b)) if inp.requires_grad]
                return input_a * input_b
        class RequiresGradContext:
            def __init__(self, *objs, requires_grad):
                self.requires_grads = [requires_grad] * len(objs)
    """, []),

    # --- DLS406 random-augmentation-in-eval ---------------------------------------------------
    # search-index files 121969288 and 24376428164: a CIFAR-10 test set flipped at random
    ("DLS406", """
        import torch
        import torchvision
        import torchvision.transforms as transforms
        transform_test = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                             transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))])
        testset = torchvision.datasets.CIFAR10(root='./data', train=False, download=True, transform=transform_test)
    """, [6]),
    # search-index file 49862883619: tiles of the test images flipped at random before prediction
    ("DLS406", """
        import torchvision.transforms as transforms
        transform_test = transforms.Compose([transforms.RandomHorizontalFlip(0.5),
                                             transforms.RandomVerticalFlip(0.5),
                                             transforms.ToTensor()])
        test_set = TileDataset(TEST_DIR, test_df, mode='test', transform=transform_test)
    """, [5]),
    # look-alikes: search-index files 3623633520 and 41109607321 give the test set a "train"
    # transform that is deterministic (the random steps commented out) or unknown
    ("DLS406", """
        import torchvision
        from torchvision import transforms
        train_transform = transforms.Compose([
            # transforms.RandomCrop(32, padding=4),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ])
        test_data = torchvision.datasets.CIFAR10(root='./data', train=False, download=True, transform=train_transform)
        train_transform, val_transform = get_transform(args)
        test_mnist = torchvision.datasets.MNIST(path, train=False, download=True, transform=train_transform)
    """, []),
    # look-alike: search-index file 29413492846, test-time augmentation over a folder of images
    ("DLS406", """
        import torchvision
        from torchvision import transforms
        for i in range(10):
            transform_test = transforms.Compose([transforms.RandomRotation(90), transforms.ToTensor()])
            test_data = torchvision.datasets.ImageFolder(test_dir, transform=transform_test)
    """, []),

    # search-index file 33405431381: a MedMNIST validation set flipped and rotated at random
    ("DLS406", """
        from torchvision import transforms
        train_transform = transforms.Compose([
            transforms.ToTensor(),
            transforms.RandomHorizontalFlip(),
            transforms.RandomRotation(20),
        ])
        train_dataset = DataClass(split='train', transform=train_transform, download=True)
        val_dataset = DataClass(split='val', transform=train_transform, download=True)
        val_loader = DataLoader(val_dataset, batch_size=batch_size, shuffle=False)
    """, [8]),
    # look-alikes: search-index files 22158208910 (Flowers102) and 38677795265 (Waterbirds) train on
    # their validation split, merged with the training set, so it is augmented on purpose
    ("DLS406", """
        from torch.utils.data import ConcatDataset, Subset
        from torchvision import transforms
        from torchvision.datasets import Flowers102
        train_transform = transforms.Compose([transforms.RandomResizedCrop(224), transforms.ToTensor()])
        original_trainset = Flowers102(root=root, split='train', transform=train_transform)
        original_valset = Flowers102(root=root, split='val', transform=train_transform)
        combined_trainset = ConcatDataset([original_trainset, original_valset])
        valset = Waterbirds(root=waterbird_path, split='val', transform=train_transform)
        extra_valset = Subset(valset, valset.get_subset(groups=[1, 2], num_per_class=1000))
        train_dataset = CombinedDataset([extra_valset, extra_trainset])
    """, []),

    # --- DLS102 uninitialised-tensor-used -----------------------------------------------------
    # look-alikes: search-index files 36118828136, 859444166, 20287091674 fill torch.empty / a sized
    # torch.Tensor element by element; 16061739176 grows an empty tensor by concatenation
    ("DLS102", """
        import torch
        def fit(self, n_epochs):
            train_loss = torch.empty(n_epochs)
            for epoch in range(n_epochs):
                train_loss[epoch] = self.train_epoch()
            return train_loss
        k_loss = torch.Tensor(1)
        k_loss[0] = num_hit / num_ges
        tilted_loss = torch.empty(0)
        for i in range(n):
            tilted_loss = torch.cat((tilted_loss, sample(i)))
    """, []),
    # look-alikes: search-index files 1805467057, 31546383082, 39314822502, 47610248365: per-class
    # tables written class by class, prototypes moved to the device and then initialised
    ("DLS102", """
        import torch
        def confusion(pred, target, num_classes):
            cm = torch.empty(num_classes, 4)
            for c in range(num_classes):
                cm[c, 0] = ((pred == c) & (target == c)).sum()
            return cm
        x_proto = torch.empty(num_classes, dim).to(device)
        torch.nn.init.normal_(x_proto, mean=0, std=0.2)
        corr_mat = torch.empty(num_classes, num_classes).cuda()
        for i in range(num_classes):
            corr_mat[i, :] = torch.sum(fc_weight[:, i].unsqueeze(1) * fc_weight, dim=0)
    """, []),
    # look-alikes: search-index files 5399830199, 14332534269, 32759160102, 916542568: a sized
    # legacy constructor filled in the same expression before the sum accumulates into it
    ("DLS102", """
        import torch
        import torch.nn.functional as F
        def train(model, device, train_loader, optimizer):
            for data, target in train_loader:
                output = model(data)
                loss = torch.FloatTensor(1).zero_().to(device)
                for i in range(len(output)):
                    loss += F.nll_loss(output[i], target[:, i])
                loss.backward()
        dice_loss = torch.FloatTensor(1).cuda().zero_()
        dice_loss += dice(batch_mask, pred)
        joint_loss = torch.FloatTensor(1).fill_(0.).to(device)[0]
    """, []),
    # chenyuntc/pytorch-book Chapter5/chapter5.ipynb (a device demonstration): the sum reads the
    # uninitialised values; the cell only checks the result's device, so the verdict is debatable
    ("DLS102", """
        import torch as t
        x = t.cuda.FloatTensor(2, 3)
        y = t.FloatTensor(2, 3).cuda()
        z = x + y
        assert z.get_device() == 0
    """, [4]),

    # --- DLS511 optimizer-rebuilt-in-loop -----------------------------------------------------
    # search-index file 37072703260: a GelSight image model, Adam rebuilt every epoch
    ("DLS511", """
        import torch
        def train(model, train_data_loader, num_epochs, learning_rate, device):
            for epoch in range(num_epochs):
                optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
                model.train()
                for gelsight_image, gt_image, _ in train_data_loader:
                    output = model(gelsight_image.to(device))
                    loss = criterion(output, gt_image.to(device))
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
    """, [4]),
    # search-index file 55918861387: soft-prompt tuning, AdamW rebuilt every epoch
    ("DLS511", """
        import torch
        NUM_EPOCHS = 5
        for epoch in range(NUM_EPOCHS):
            optimizer = torch.optim.AdamW(cust_softprompt, lr=1e-3)
            total_loss = 0.0
            for step, batch in enumerate(train_loader):
                loss = step_loss(batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    """, [4]),
    # search-index file 31429594755: adversarial training, both SGD-with-momentum optimizers rebuilt
    ("DLS511", """
        import torch
        def train_model(model, criterion, adversary, learning_rate, num_epochs=35):
            for epoch in range(num_epochs):
                optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)
                nn_optimizer = torch.optim.SGD(adversary.parameters(), lr=learning_rate, momentum=0.9)
                for inputs, labels in dataloaders['train']:
                    optimizer.zero_grad()
                    nn_optimizer.zero_grad()
                    loss = criterion(model(inputs), labels)
                    loss.backward()
                    optimizer.step()
                    nn_optimizer.step()
    """, [4, 5]),
    # search-index file 1260071912: a transimpedance regression model
    ("DLS511", """
        import torch
        for epoch in range(num_epochs):
            optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
            for batch in dataloader:
                predictions = model(batch["inputs"])
                loss = loss_fn(predictions, batch["targets"].view(-1, 1))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    """, [3]),
    # search-index file 21842131771: Adam rebuilt every epoch to apply a hand-made step decay; it
    # throws the moments away too, but a rebuild whose arguments change in the loop is left alone
    # (the rule cannot tell it from a new model per fold): a miss, not a false positive
    ("DLS511", """
        import torch
        def train(net, train_data, num_epochs, criterion):
            lr = 0.01
            for epoch in range(num_epochs):
                optimizer = torch.optim.Adam(net.parameters(), lr=lr)
                if lr > 1e-5 and (epoch + 1) % 16 == 0:
                    lr = lr / 10
                net.train()
                for im, label in train_data:
                    loss = criterion(net(im), label)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
    """, []),
    # search-index file 15532748372: plain SGD (no momentum) has no state to lose, so its rebuild
    # every epoch changes nothing
    ("DLS511", """
        import torch
        def run_model(model, train_data, learning_rate, num_epochs):
            criterion = torch.nn.MSELoss()
            for epoch in range(num_epochs):
                optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
                for i, student in enumerate(train_data):
                    loss = criterion(model(student[:-1]), student[1:])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
    """, []),
    # search-index file 19053165596: a ranking model, the batch loop inside train()
    ("DLS511", """
        import torch.optim as optim
        def train(net, epoch_size, batch_size, optimizer):
            for i in range(epoch_size):
                loss = net.loss(sample(batch_size))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        for ep_idx in range(num_epochs):
            optimizer = optim.Adam(net.parameters(), lr=learning_rate)
            train_loss = train(net, epoch_size, batch_size, optimizer)
    """, [9]),
    # look-alike: search-index file 22258961, one optimizer per stage over that stage's parameters
    ("DLS511", """
        import torch
        def train(self, r, max_epochs, learning_rate, tol):
            for i in r:
                loss = torch.tensor(1)
                optimizer = torch.optim.Adam(parameters(i), lr=learning_rate)
                for e in range(max_epochs):
                    if loss.item() < tol:
                        break
                    optimizer.zero_grad()
                    loss = lossfunc(source, target)
                    loss.backward()
                    optimizer.step()
    """, []),
]


@pytest.mark.parametrize("code, source, expect", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rare_rule_on_public_code(code: str, source: str, expect: list[int]) -> None:
    findings = lint_source(textwrap.dedent(source).lstrip("\n"), select=[code])
    assert sorted(f.line for f in findings if f.code == code) == expect


def _notebook_findings(*cells: str, code: str) -> list[tuple[int | None, int]]:
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": source} for source in cells],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    selection = RuleSelection([rule for rule in all_rules() if rule.code == code], {})
    result = notebook_result("nb.ipynb", json.dumps(notebook).encode(), selection, fix=False, unsafe=False)
    return [(f.cell, f.line) for f in result.findings]


def test_a_cells_displayed_tensor_is_not_discarded() -> None:
    # Atcold/NYU-DLSP20 01-tensor_tutorial.ipynb: `m.t()` ending a cell shows the transposed
    # tensor, the point of the tutorial cell; the same call before the cell's end throws it away
    cells = (
        "import torch\nm = torch.tensor([[2, 5, 3, 7], [4, 2, 1, 9]])\n",
        "# Transpose tensor m, which is essentially 2x4 to 4x2\nm.t()",
        "m.to(device)\n# Move your tensor to GPU device 0\n\n",
        "m.t()\nprint(m.shape)\n",
    )
    assert _notebook_findings(*cells, code="DLS604") == [(4, 1)]


def test_a_cells_displayed_method_is_still_not_called() -> None:
    # DLS304 keeps its findings there: showing the bound method `model.eval` switches nothing
    cells = ("import torch\nmodel = Net()\n", "model.eval")
    assert _notebook_findings(*cells, code="DLS304") == [(2, 1)]
