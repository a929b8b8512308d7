"""Cases taken from public code: what the semantic model must see (a finding) and what it must
not mistake (no finding).  Each case cites the file it was reduced from; the reduction keeps the
mechanism (imports, constructors, the provenance of the data) and drops the rest."""

from __future__ import annotations

import textwrap

import pytest

from dlsan.lint.engine import RuleSelection, lint_source
from dlsan.lint.registry import all_rules

_RULES = {rule.code: rule for rule in all_rules()}


def _codes(source: str, code: str) -> list[int]:
    selection = RuleSelection([_RULES[code]], {})
    return [f.line for f in lint_source("case.py", textwrap.dedent(source).lstrip("\n"), selection) if f.code == code]


FOUND = [
    # https://github.com/pytorch/examples/blob/main/dcgan/main.py
    ("DLS503", """
        import torch.nn as nn
        class Discriminator(nn.Module):
            def __init__(self):
                super().__init__()
                self.main = nn.Sequential(nn.Conv2d(3, 64, 4), nn.LeakyReLU(0.2), nn.Conv2d(64, 1, 4), nn.Sigmoid())
            def forward(self, input):
                return self.main(input).view(-1, 1).squeeze(1)
        netD = Discriminator()
        criterion = nn.BCELoss()
        output = netD(real_cpu)
        errD_real = criterion(output, label)
    """),
    # https://github.com/eriklindernoren/PyTorch-GAN/blob/master/implementations/pixelda/pixelda.py
    ("DLS502", """
        import torch.nn as nn
        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                layers = [nn.Conv2d(3, 64, 3), nn.LeakyReLU(0.2)]
                self.model = nn.Sequential(*layers)
                self.output_layer = nn.Sequential(nn.Linear(64, 10), nn.Softmax())
            def forward(self, img):
                return self.output_layer(self.model(img).view(img.size(0), -1))
        classifier = Classifier()
        task_loss = nn.CrossEntropyLoss()
        loss = task_loss(classifier(imgs), labels)
    """),
    # https://github.com/mrdbourke/pytorch-deep-learning/blob/main/03_pytorch_computer_vision.ipynb
    ("DLS101", """
        import torch
        for epoch in range(epochs):
            train_loss = 0
            for batch, (X, y) in enumerate(train_dataloader):
                y_pred = model_0(X)
                loss = loss_fn(y_pred, y)
                train_loss += loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    """),
    # https://github.com/jindongwang/transferlearning/blob/master/code/deep/ReMoS/CV_adv/finetuner.py
    ("DLS101", """
        import torch
        class MovingAverageMeter(object):
            def update(self, val, n=1):
                self.val = val
                self.avg = self.momentum * self.avg + (1 - self.momentum) * val
        ce_loss_meter = MovingAverageMeter("CE Loss", ":6.3f")
        for iteration in range(iterations):
            loss = ce(model(batch), label)
            ce_loss_meter.update(loss)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    """),
    # https://github.com/MorvanZhou/PyTorch-Tutorial/blob/master/tutorial-contents/405_DQN_Reinforcement_learning.py
    ("DLS603", """
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super(Net, self).__init__()
                self.fc1 = nn.Linear(4, 50)
                self.out = nn.Linear(50, 2)
            def forward(self, x):
                return self.out(self.fc1(x))
        class DQN(object):
            def __init__(self):
                self.eval_net, self.target_net = Net(), Net()
            def choose_action(self, x):
                actions_value = self.eval_net.forward(x)
    """),
    # https://github.com/kuangliu/pytorch-cifar/blob/master/main.py
    ("DLS402", """
        import torch
        import torchvision
        testset = torchvision.datasets.CIFAR10(root='./data', train=False, download=True, transform=transform_test)
        testloader = torch.utils.data.DataLoader(testset, batch_size=100, shuffle=False, num_workers=2)
        def test(epoch):
            global best_acc
            net.eval()
            correct = total = 0
            with torch.no_grad():
                for batch_idx, (inputs, targets) in enumerate(testloader):
                    correct += net(inputs).argmax(1).eq(targets).sum().item()
                    total += targets.size(0)
            acc = 100. * correct / total
            if acc > best_acc:
                torch.save({"net": net.state_dict(), "acc": acc}, "./checkpoint/ckpt.pth")
                best_acc = acc
        for epoch in range(start_epoch, start_epoch + 200):
            train(epoch)
            test(epoch)
            scheduler.step()
    """),
    # https://github.com/pytorch/examples/blob/main/distributed/tensor_parallelism/tensor_parallel_example.py
    ("DLS504", """
        import torch
        optimizer = torch.optim.AdamW(tp_model.parameters(), lr=lr, foreach=True)
        for i in range(num_iters):
            torch.manual_seed(i)
            inp = torch.rand(20, 10, device="cuda")
            output = tp_model(inp)
            output.sum().backward()
            optimizer.step()
    """),
    # https://github.com/mrdbourke/pytorch-deep-learning/blob/main/08_pytorch_paper_replicating.ipynb
    ("DLS501", """
        import torch
        optimizer = torch.optim.Adam(params=vit.parameters(), lr=3e-3, betas=(0.9, 0.999), weight_decay=0.3)
    """),
    # https://github.com/MLEveryday/100-Days-Of-ML-Code/blob/master/Code/Day%201_Data_Preprocessing.py
    ("DLS401", """
        from sklearn.impute import SimpleImputer
        from sklearn.model_selection import train_test_split
        imputer = SimpleImputer(missing_values=np.nan, strategy="mean")
        imputer = imputer.fit(X[:, 1:3])
        X[:, 1:3] = imputer.transform(X[:, 1:3])
        X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.2, random_state=0)
    """),
    # https://github.com/jindongwang/transferlearning/blob/master/code/feature_extractor/for_digit_data/digit_deep_feature.py
    # (reduced: the evaluation leaves the BatchNorm model in eval mode for the next epoch)
    ("DLS302", """
        import torch.nn as nn
        class Network(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 32, 5)
                self.bn = nn.BatchNorm2d(32)
                self.fc = nn.Linear(32, 10)
            def forward(self, x):
                return self.fc(self.bn(self.conv(x)).mean((2, 3)))
        model = Network()
        for epoch in range(1, N_EPOCH + 1):
            for inputs, labels in train_loader:
                optimizer.zero_grad()
                criterion(model(inputs), labels).backward()
                optimizer.step()
            model.eval()
            for inputs, labels in val_loader:
                correct += (model(inputs).argmax(1) == labels).sum().item()
    """),
    # https://github.com/pytorch/ignite/blob/master/examples/gan/dcgan.py (reduced to a no_grad probe)
    ("DLS301", """
        import torch
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
            def forward(self, x):
                return self.features(x)
        net = Net()
        with torch.no_grad():
            fake = net(fixed_noise)
    """),
]

QUIET = [
    # pyg-team/pytorch_geometric examples/llm/glem.py: evaluate() returns the train, valid and test
    # accuracies of the split_idx parts; early stopping reads the valid one
    ("DLS402", """
        import torch
        split_idx = dataset.get_idx_split()
        def evaluate(out, split):
            y_true = data.y.cpu()
            y_pred = out.argmax(dim=-1, keepdim=True)
            train_acc, val_acc, test_acc = None, None, None
            if 'train' in split:
                train_acc = evaluator.eval({'y_true': y_true[split_idx['train']], 'y_pred': y_pred[split_idx['train']]})['acc']
            if 'valid' in split:
                val_acc = evaluator.eval({'y_true': y_true[split_idx['valid']], 'y_pred': y_pred[split_idx['valid']]})['acc']
            if 'test' in split:
                test_acc = evaluator.eval({'y_true': y_true[split_idx['test']], 'y_pred': y_pred[split_idx['test']]})['acc']
            return train_acc, val_acc, test_acc
        early_stopping = 0
        best_val_acc = 0.0
        for epoch in range(1, pretrain_num_epochs + 1):
            acc, loss = model.train(pretrain_phase, pretrain_loader, pretrain_opt, ext_pseudo_labels, epoch)
            pretrain_preds = model.inference(pretrain_phase, test_loader)
            train_acc, val_acc, _ = evaluate(pretrain_preds, ['train', 'valid'])
            if val_acc <= best_val_acc:
                early_stopping += 1
                if early_stopping > patience:
                    break
            else:
                best_val_acc = val_acc
    """),
    # keras-team/keras keras/src/callbacks/reduce_lr_on_plateau_test.py: the callback's unit test
    # feeds fixture data named x_test/y_test as validation data; only the name says "test"
    ("DLS402", """
        from keras.src import callbacks, layers, testing
        from keras.src.models import Sequential
        from keras.src.testing import test_utils
        class ReduceLROnPlateauTest(testing.TestCase):
            def setUp(self):
                (x_train, y_train), (x_test, y_test) = test_utils.get_test_data(
                    train_samples=10, test_samples=10, input_shape=(3,), num_classes=2)
                self.model = Sequential([layers.Dense(5), layers.Dense(2)])
                self.x_train, self.x_test, self.y_train, self.y_test = x_train, x_test, y_train, y_test
            def test_reduces_lr_with_model_fit(self):
                reduce_lr = callbacks.ReduceLROnPlateau(patience=1, factor=0.1, monitor="val_loss", min_delta=10)
                self.model.fit(self.x_train, self.y_train, validation_data=(self.x_test, self.y_test),
                               callbacks=[reduce_lr], epochs=2)
    """),
    # WZMIAOMIAO/deep-learning-for-image-processing pytorch_object_detection/yolov3_spp/train.py: the
    # "test" in `imgsz_test` is an image size; the evaluated data is data_dict["valid"]
    ("DLS402", """
        import torch
        imgsz_train = opt.img_size
        imgsz_test = opt.img_size
        test_path = data_dict["valid"]
        for epoch in range(start_epoch, epochs):
            mloss, lr = train_util.train_one_epoch(model, optimizer, train_dataloader, device, epoch)
            result_info = train_util.evaluate(model, val_datasetloader, coco=coco, device=device)
            coco_mAP = result_info[0]
            if coco_mAP > best_map:
                best_map = coco_mAP
            torch.save(save_files, "./weights/yolov3spp-{}.pt".format(epoch))
            if best_map == coco_mAP:
                torch.save(save_files, "best.pt")
    """),
    # https://github.com/apachecn/AiLearning/blob/master/src/py3.x/dl/cnn.py: a numpy layer class
    ("DLS603", """
        import numpy as np
        class ConvLayer(object):
            def forward(self, input_array):
                self.input_array = input_array
        cl = ConvLayer()
        cl.forward(np.zeros((3, 5, 5)))
    """),
    # https://github.com/pytorch/examples/blob/main/distributed/rpc/pipeline/main.py: RRef proxies
    ("DLS603", """
        import torch
        class DistResNet50(torch.nn.Module):
            def forward(self, xs):
                for x in iter(xs.split(self.split_size, dim=0)):
                    y_rref = self.p1_rref.remote().forward(x_rref)
                    z_fut = self.p2_rref.rpc_async().forward(y_rref)
    """),
    # https://github.com/d2l-ai/d2l-en/blob/master/d2l/mxnet.py: MXNet has no .eval()
    ("DLS301", """
        from mxnet import autograd, gluon, np, npx
        def predict_ch3(net, test_iter, n=6):
            for X, y in test_iter:
                break
            preds = net(X).argmax(axis=1)
    """),
    # https://github.com/d2l-ai/d2l-en/blob/master/d2l/tensorflow.py: Keras passes training=False
    ("DLS301", """
        import tensorflow as tf
        def evaluate_accuracy(net, data_iter):
            for X, y in data_iter:
                metric.add(accuracy(net(X, training=False), y), d2l.size(y))
    """),
    # https://github.com/d2l-ai/d2l-en/blob/master/d2l/mxnet.py: Gluon overwrites gradients
    ("DLS504", """
        from mxnet import autograd, gluon
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
        for X, y in train_iter:
            with autograd.record():
                l = loss(net(X), y)
            l.backward()
            trainer.step(X.shape[0])
    """),
    # https://github.com/d2l-ai/d2l-en/blob/master/d2l/mxnet.py: NDArrays carry no torch graph
    ("DLS101", """
        from mxnet import autograd, np
        for X, y in train_iter:
            with autograd.record():
                l = loss(net(X), y)
            l.backward()
            updater(X.shape[0])
            total += l.sum()
    """),
    # https://github.com/d2l-ai/d2l-en/blob/master/d2l/torch.py: Accumulator.add stores float(b)
    ("DLS101", """
        import sys
        import torch
        d2l = sys.modules[__name__]
        class Accumulator:
            def __init__(self, n):
                self.data = [0.0] * n
            def add(self, *args):
                self.data = [a + float(b) for a, b in zip(self.data, args)]
        for epoch in range(num_epochs):
            metric = d2l.Accumulator(4)
            for i, (features, labels) in enumerate(train_iter):
                l, acc = train_batch(net, features, labels, loss, trainer)
                l.backward()
                trainer.step()
                metric.add(l, acc, labels.shape[0], labels.numel())
    """),
    # https://github.com/pytorch/examples/blob/main/distributed/rpc/rnn/main.py: dist_autograd
    ("DLS504", """
        import torch.distributed.autograd as dist_autograd
        from torch.distributed.optim import DistributedOptimizer
        opt = DistributedOptimizer(optim.SGD, model.parameter_rrefs(), lr=0.05)
        for epoch in range(10):
            with dist_autograd.context() as context_id:
                loss = criterion(model(inp, hidden)[0], target)
                dist_autograd.backward(context_id, [loss])
                opt.step(context_id)
    """),
    # https://github.com/znxlwm/pytorch-generative-model-collections/blob/master/infoGAN.py
    ("DLS504", """
        import itertools
        import torch.optim as optim
        class infoGAN(object):
            def __init__(self):
                self.G_optimizer = optim.Adam(self.G.parameters(), lr=1e-3)
                self.D_optimizer = optim.Adam(self.D.parameters(), lr=1e-3)
                self.info_optimizer = optim.Adam(itertools.chain(self.G.parameters(), self.D.parameters()))
            def train(self):
                for x_ in self.data_loader:
                    self.D_optimizer.zero_grad()
                    self.D_loss(x_).backward(retain_graph=True)
                    self.D_optimizer.step()
                    self.G_optimizer.zero_grad()
                    self.G_loss(x_).backward(retain_graph=True)
                    self.G_optimizer.step()
                    self.info_loss(x_).backward()
                    self.info_optimizer.step()
    """),
    # https://github.com/mrdbourke/pytorch-deep-learning/blob/main/02_pytorch_classification.ipynb
    ("DLS302", """
        import torch
        from torch import nn
        class CircleModelV1(nn.Module):
            def __init__(self):
                super().__init__()
                self.layer_1 = nn.Linear(in_features=2, out_features=10)
                self.layer_2 = nn.Linear(in_features=10, out_features=1)
            def forward(self, x):
                return self.layer_2(self.layer_1(x))
        model_1 = CircleModelV1()
        for epoch in range(epochs):
            loss = loss_fn(model_1(X_train).squeeze(), y_train)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model_1.eval()
            with torch.inference_mode():
                test_logits = model_1(X_test).squeeze()
    """),
    # https://github.com/yunjey/pytorch-tutorial/blob/master/tutorials/01-basics/feedforward_neural_network/main.py
    ("DLS301", """
        import torch
        import torch.nn as nn
        class NeuralNet(nn.Module):
            def __init__(self, input_size, hidden_size, num_classes):
                super(NeuralNet, self).__init__()
                self.fc1 = nn.Linear(input_size, hidden_size)
                self.relu = nn.ReLU()
                self.fc2 = nn.Linear(hidden_size, num_classes)
            def forward(self, x):
                return self.fc2(self.relu(self.fc1(x)))
        model = NeuralNet(input_size, hidden_size, num_classes)
        with torch.no_grad():
            for images, labels in test_loader:
                outputs = model(images.reshape(-1, 28 * 28))
    """),
    # https://github.com/yunjey/pytorch-tutorial/blob/master/tutorials/02-intermediate/language_model/main.py
    ("DLS301", """
        import torch
        import torch.nn as nn
        class RNNLM(nn.Module):
            def __init__(self, vocab_size, embed_size, hidden_size, num_layers):
                super(RNNLM, self).__init__()
                self.embed = nn.Embedding(vocab_size, embed_size)
                self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
                self.linear = nn.Linear(hidden_size, vocab_size)
            def forward(self, x, h):
                out, (h, c) = self.lstm(self.embed(x), h)
                return self.linear(out), (h, c)
        model = RNNLM(vocab_size, embed_size, hidden_size, num_layers)
        with torch.no_grad():
            output, state = model(input, state)
    """),
    # https://github.com/pytorch/examples/blob/main/vae/main.py: a reconstruction picture
    ("DLS402", """
        def test(epoch):
            model.eval()
            with torch.no_grad():
                for i, (data, _) in enumerate(test_loader):
                    recon_batch, mu, logvar = model(data)
                    if i == 0:
                        save_image(comparison.cpu(), "results/reconstruction_" + str(epoch) + ".png")
        for epoch in range(1, args.epochs + 1):
            train(epoch)
            test(epoch)
    """),
    # https://github.com/pytorch/examples/blob/main/distributed/FSDP/T5_training.py
    ("DLS402", """
        val_loader = torch.utils.data.DataLoader(val_dataset, **test_kwargs)
        for epoch in range(1, args.epochs + 1):
            train_accuracy = train(args, model, rank, world_size, train_loader, optimizer, epoch)
            curr_val_loss = validation(model, rank, world_size, val_loader)
            if curr_val_loss < best_val_loss:
                best_val_loss = curr_val_loss
                save_model_checkpoint(model, optimizer, rank, fsdp_config, epoch=1)
    """),
    # https://github.com/jindongwang/transferlearning/blob/master/code/ASR/Adapter/train.py
    ("DLS402", """
        def train(dataloaders, model, optimizer, save_path):
            train_loader, val_loader, test_loader = dataloaders
            for epoch in range(args.start_epoch, args.epochs + 1):
                train_stats = train_epoch(train_loader, model, optimizer, epoch)
                valid_stats = test(f"val_{epoch}", val_loader, model)
                if best_loss > valid_stats["loss"]:
                    best_loss = valid_stats["loss"]
                    torch_save(model, save_path)
    """),
    # https://github.com/jadore801120/attention-is-all-you-need-pytorch/blob/master/train.py
    ("DLS101", """
        import torch
        def cal_performance(pred, gold, trg_pad_idx):
            loss = cal_loss(pred, gold, trg_pad_idx)
            n_correct = pred.eq(gold).masked_select(non_pad_mask).sum().item()
            n_word = non_pad_mask.sum().item()
            return loss, n_correct, n_word
        for batch in training_data:
            optimizer.zero_grad()
            loss, n_correct, n_word = cal_performance(model(src_seq, trg_seq), gold, trg_pad_idx)
            loss.backward()
            optimizer.step()
            n_word_total += n_word
            n_word_correct += n_correct
    """),
    # https://github.com/jindongwang/transferlearning/blob/master/code/deep/finetune_AlexNet_ResNet/finetune_office31.py
    ("DLS302", """
        from torchvision import models
        model = models.resnet50(pretrained=True)
        for epoch in range(1, n_epoch + 1):
            for phase in ["src", "val", "tar"]:
                if phase == "src":
                    model.train()
                else:
                    model.eval()
                for inputs, labels in dataloaders[phase]:
                    loss = criterion(model(inputs), labels)
                    if phase == "src":
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
    """),
]


@pytest.mark.parametrize(("code", "source"), FOUND, ids=[f"{c}-{i}" for i, (c, _) in enumerate(FOUND)])
def test_found_in_real_code(code: str, source: str) -> None:
    assert _codes(source, code), f"{code} should fire"


@pytest.mark.parametrize(("code", "source"), QUIET, ids=[f"{c}-{i}" for i, (c, _) in enumerate(QUIET)])
def test_quiet_on_real_code(code: str, source: str) -> None:
    assert _codes(source, code) == []


def test_names_alone_are_evidence_of_test_data_only_when_asked() -> None:
    # kuangliu/pytorch-cifar main.py without the lines that build `testloader`: only its name says
    # it holds the test set
    source = textwrap.dedent("""
        import torch
        for epoch in range(200):
            train(epoch)
            acc = evaluate(net, testloader)
            if acc > best_acc:
                torch.save(net.state_dict(), "./checkpoint/ckpt.pth")
                best_acc = acc
    """).lstrip("\n")
    assert _codes(source, "DLS402") == []
    by_name = RuleSelection([_RULES["DLS402"]], {"DLS402": {"test-data-by-name": True}})
    assert [f.line for f in lint_source("case.py", source, by_name)] == [5]


def test_the_test_part_of_a_returned_tuple_is_test_data() -> None:
    # glem.py's evaluate() again, with early stopping on the test part it returns
    source = textwrap.dedent("""
        def evaluate(out):
            val_acc = evaluator.eval({'y_pred': out[split_idx['valid']]})['acc']
            test_acc = evaluator.eval({'y_pred': out[split_idx['test']]})['acc']
            return val_acc, test_acc
        for epoch in range(epochs):
            model.train(loader, opt)
            val_acc, test_acc = evaluate(model.inference(loader))
            if test_acc <= best:
                break
    """).lstrip("\n")
    assert _codes(source, "DLS402") == [8]
    assert _codes(source.replace("if test_acc <= best", "if val_acc <= best"), "DLS402") == []
