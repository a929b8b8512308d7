from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst

from dlsan.lint.analysis.callers import call_sites
from dlsan.lint.analysis.holdout import (
    TEST_SPLIT_TOKENS,
    decision_evidence,
    evidence_of_test_data,
    mentions_test_data,
)
from dlsan.lint.analysis.loops import enclosing_loops, loops_around, trains
from dlsan.lint.analysis.nodes import calls_in, method_name, nodes_in
from dlsan.lint.analysis.optimizers import is_scheduler_step
from dlsan.lint.calls import keyword_arg
from dlsan.lint.catalog.keras_api import FIT_METHODS as KERAS_FIT_METHODS
from dlsan.lint.catalog.keras_api import SELECTING_CALLBACKS, VALIDATION_DATA
from dlsan.lint.names import dotted_name
from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.semantic.objects import constructor

#: calls that keep a model or stop training when made under a test-driven condition
_KEEPS_OR_STOPS = re.compile(r"save|checkpoint|deepcopy|state_dict|load_state_dict", re.IGNORECASE)
#: saving pictures or plots keeps no model (``save_image``, ``plt.savefig``, ``cv2.imwrite``)
_SAVES_PICTURES = re.compile(r"save_?image|savefig|imsave|imwrite|save_?fig|save_?plot|save_?gif|save_?video",
                             re.IGNORECASE)
#: names updated by early stopping or best-model bookkeeping
_STOPPING_STATE = re.compile(
    r"patience|counter|wait|bad_epoch|no_improve|trigger|stop|best_(model|state|weights|params|ckpt|checkpoint|net)",
    re.IGNORECASE,
)
_EARLY_STOPPER = re.compile(r"early_?stop|stopper", re.IGNORECASE)
_SAVES = re.compile(r"save|checkpoint", re.IGNORECASE)
_EPOCH = re.compile(r"epoch", re.IGNORECASE)
_TRAIN_CALL = re.compile(r"(^|_)train", re.IGNORECASE)


#: the option that makes a name (``test_loader``) evidence of test data
TEST_DATA_BY_NAME = "test-data-by-name"


class TestSetModelSelection(Rule):
    """
    ## What it does
    Flags a metric computed on test data that decides something inside the training loop: which
    checkpoint is kept (`torch.save` or a best-model copy under a comparison), when training stops
    (`break`, patience counters, an `EarlyStopping` object), or the learning rate
    (`scheduler.step(test_loss)`).

    In Keras: `fit(validation_data=<test data>)` with a callback that acts on the validation
    metric (`EarlyStopping`, `ModelCheckpoint(save_best_only=True)`, `ReduceLROnPlateau`).

    Test data is recognised by provenance first: a `train=False` dataset, the test part of a
    `train_test_split` or of a three-way `random_split`, a loader wrapping one, and the values
    computed from them, through the definitions that reach each use. A loader known to wrap the
    training data (a validation split carved out of it) is no test data, whatever its name; nor is
    data that only a name calls test data (see Options). Logging or printing test metrics, and a
    final test evaluation after the loop, are not flagged.

    ## Why is this bad?
    Once the test set chooses the checkpoint, the stopping epoch or the schedule, it is part of
    training: the reported test score is optimistically biased, and no data is left to estimate how
    the model does on unseen data. Select on a validation split and touch the test set once, at
    the end.

    ## Example
    ```python
    test_loader = DataLoader(datasets.CIFAR10(root, train=False), batch_size=256)
    for epoch in range(epochs):
        train_one_epoch(model, train_loader, optimizer)
        test_acc = evaluate(model, test_loader)
        if test_acc > best_acc:
            best_acc = test_acc
            torch.save(model.state_dict(), "best.pt")
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        train_one_epoch(model, train_loader, optimizer)
        val_acc = evaluate(model, val_loader)
        if val_acc > best_acc:
            best_acc = val_acc
            torch.save(model.state_dict(), "best.pt")
    model.load_state_dict(torch.load("best.pt", weights_only=True))
    test_acc = evaluate(model, test_loader)
    ```

    ## Options
    `test-data-by-name` (default `false`): where provenance is unknown, also take data for test
    data by its name (`test_loader`, `testloader`, `X_test`, `test_ds`, `test_acc`, a call of
    `test(model, loader)`). Off by default: on public repositories, 9 of the 19 findings whose only
    evidence was a name were false (the "test" loader was the validation split, or the data of a
    callback's unit test).
    ```toml
    [tool.dlsan.rule-options.DLS402]
    test-data-by-name = true
    ```
    """

    __test__ = False  # not a pytest test class, despite the name

    code = "DLS402"
    name = "test-set-model-selection"
    message = (
        "a metric on test data ({evidence}) {what} inside the training loop, which leaks the test set into "
        "training and biases the reported score; select on a validation split, test once at the end"
    )
    message_keras = (
        "`fit()` is given test data as its validation data ({evidence}) and {callback} acts on it: the "
        "test set picks the epoch or the weights, which biases the reported score; validate on a split "
        "of the training data (`validation_split=` or a held-out part) and test once at the end"
    )
    requires = ("test", *TEST_SPLIT_TOKENS)
    options = {TEST_DATA_BY_NAME: False}

    VALID = [
        # Keras: a validation split of the training data, a callback on a training metric, a
        # checkpoint of every epoch, and test data only logged (TensorBoard) select nothing on it
        Valid("""
            from sklearn.model_selection import train_test_split
            from tensorflow.keras.callbacks import EarlyStopping, ModelCheckpoint, TensorBoard
            X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
            X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=0.2)
            model.fit(X_fit, y_fit, validation_data=(X_val, y_val), callbacks=[EarlyStopping(patience=3)])
            model.fit(X_train, y_train, validation_split=0.2, callbacks=[EarlyStopping(patience=3)])
            model.fit(X_train, y_train, validation_data=(X_test, y_test), callbacks=[EarlyStopping(monitor="loss")])
            model.fit(X_train, y_train, validation_data=(X_test, y_test), callbacks=[ModelCheckpoint("e{epoch}.h5")])
            model.fit(X_train, y_train, validation_data=(X_test, y_test), callbacks=[TensorBoard(log_dir="logs")])
        """),
        # WZMIAOMIAO/deep-learning-for-image-processing tensorflow_classification/Test2_alexnet/trainGPU.py:
        # the metric objects are named `test_loss` but built from constants and fed the validation set
        Valid("""
            import tensorflow as tf
            test_loss = tf.keras.metrics.Mean(name="test_loss")
            best_test_loss = float("inf")
            for epoch in range(epochs):
                for images, labels in train_dataset:
                    train_step(images, labels)
                for index, (images, labels) in enumerate(val_dataset):
                    test_step(images, labels)
                if test_loss.result() < best_test_loss:
                    model.save_weights("./save_weights/myAlex.ckpt", save_format="tf")
        """),
        # bentrevett/pytorch-sentiment-analysis "1 - Neural Bag of Words.ipynb": the validation split
        # is the part Hugging Face's `train_test_split` calls "test", carved out of the training data
        Valid("""
            import torch
            train_data, test_data = datasets.load_dataset("imdb", split=["train", "test"])
            train_valid_data = train_data.train_test_split(test_size=test_size)
            train_data = train_valid_data["train"]
            valid_data = train_valid_data["test"]
            valid_data_loader = get_data_loader(valid_data, batch_size, pad_index)
            for epoch in range(n_epochs):
                train_loss, train_acc = train(train_data_loader, model, criterion, optimizer, device)
                valid_loss, valid_acc = evaluate(valid_data_loader, model, criterion, device)
                if valid_loss < best_valid_loss:
                    best_valid_loss = valid_loss
                    torch.save(model.state_dict(), "nbow.pt")
        """),
        # udacity/deep-learning-v2-pytorch convolutional-neural-networks/cifar-cnn/cifar10_cnn_solution.ipynb:
        # `valid_loader` wraps `train_data` (a SubsetRandomSampler split of it); the test loop after
        # training reuses the names `data` and `target`
        Valid("""
            import torch
            from torchvision import datasets
            train_data = datasets.CIFAR10("data", train=True, download=True, transform=transform)
            test_data = datasets.CIFAR10("data", train=False, download=True, transform=transform)
            valid_loader = torch.utils.data.DataLoader(train_data, batch_size=20, sampler=valid_sampler)
            test_loader = torch.utils.data.DataLoader(test_data, batch_size=20)
            for epoch in range(1, n_epochs + 1):
                model.train()
                for data, target in train_loader:
                    optimizer.zero_grad()
                    loss = criterion(model(data), target)
                    loss.backward()
                    optimizer.step()
                valid_loss = 0.0
                model.eval()
                for data, target in valid_loader:
                    loss = criterion(model(data), target)
                    valid_loss += loss.item() * data.size(0)
                valid_loss = valid_loss / len(valid_loader.sampler)
                if valid_loss <= valid_loss_min:
                    torch.save(model.state_dict(), "model_cifar.pt")
                    valid_loss_min = valid_loss
            test_loss = 0.0
            for data, target in test_loader:
                loss = criterion(model(data), target)
                test_loss += loss.item() * data.size(0)
        """),
        # jindongwang/transferlearning code/deep/adarnn/train_weather.py: `test_epoch` runs on the
        # validation loader; the test loss is only printed
        Valid("""
            for epoch in range(args.n_epochs):
                loss = train_epoch(model, optimizer, train_loader_list, epoch)
                val_loss, val_loss_l1, val_loss_r = test_epoch(model, valid_loader, prefix="Valid")
                test_loss, test_loss_l1, test_loss_r = test_epoch(model, test_loader, prefix="Test")
                print("valid %.6f, test %.6f" % (val_loss_l1, test_loss_l1))
                if val_loss < best_score:
                    best_score = val_loss
                    stop_round = 0
                    torch.save(model.state_dict(), "best.pkl")
        """),
        # pytorch/examples vae/main.py: the first test batch's reconstructions are saved as a picture
        Valid("""
            def test(epoch):
                model.eval()
                test_loss = 0
                with torch.no_grad():
                    for i, (data, _) in enumerate(test_loader):
                        recon_batch, mu, logvar = model(data)
                        test_loss += loss_function(recon_batch, data, mu, logvar).item()
                        if i == 0:
                            save_image(comparison.cpu(), "results/reconstruction_" + str(epoch) + ".png")
            for epoch in range(1, args.epochs + 1):
                train(epoch)
                test(epoch)
        """),
        # pytorch/examples distributed/FSDP/T5_training.py: only the DataLoader settings are "test_kwargs"
        Valid("""
            val_loader = torch.utils.data.DataLoader(val_dataset, **test_kwargs)
            for epoch in range(1, args.epochs + 1):
                train_accuracy = train(args, model, rank, world_size, train_loader, optimizer, epoch)
                curr_val_loss = validation(model, rank, world_size, val_loader)
                if curr_val_loss < best_val_loss:
                    best_val_loss = curr_val_loss
                    save_model_checkpoint(model, optimizer, rank, fsdp_config, epoch=1)
        """),
        # Lightning-AI/pytorch-lightning examples/fabric/image_classifier/train_fabric.py
        Valid("""
            for epoch in range(1, hparams.epochs + 1):
                model.train()
                for batch_idx, (data, target) in enumerate(train_loader):
                    optimizer.zero_grad()
                    loss = F.nll_loss(model(data), target)
                    loss.backward()
                    optimizer.step()
                    if (batch_idx == 0) or ((batch_idx + 1) % hparams.log_interval == 0):
                        if hparams.dry_run:
                            break
                model.eval()
                with torch.no_grad():
                    for data, target in test_loader:
                        output = model(data)
                        test_acc(output, target)
        """),
        Valid("""
            for epoch in range(1, epochs + 1):
                train(model, train_loader, optimizer, epoch)
                test_loss, test_acc = evaluate(model, test_loader)
                print(f"epoch {epoch}: test loss {test_loss:.4f} acc {test_acc:.2%}")
                scheduler.step()
        """),
        Valid("""
            for epoch in range(epochs):
                train_one_epoch(model, train_loader, optimizer)
                val_acc = evaluate(model, val_loader)
                if val_acc > best_acc:
                    best_acc = val_acc
                    torch.save(model.state_dict(), "best.pt")
            test_acc = evaluate(model, test_loader)
        """),
        Valid("""
            def train(model, loader, opt):
                for x, y in loader:
                    opt.zero_grad()
                    loss_fn(model(x), y).backward()
                    opt.step()

            for epoch in range(epochs):
                train(model, train_loader, opt)
                val_loss = validate(model, val_loader)
                scheduler.step(val_loss)
                wandb.log({"test_acc": evaluate(model, test_loader)})
        """),
        Valid("""
            for epoch in range(epochs):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                test_acc = accuracy(model, X_test, y_test)
                if test_acc > best_test_acc:
                    best_test_acc = test_acc
                writer.add_scalar("test/best_acc", best_test_acc, epoch)
        """),
        Valid("""
            for epoch in range(epochs):
                train_one_epoch(model, train_loader, optimizer)
                if epoch % args.test_interval == 0:
                    torch.save(model.state_dict(), f"epoch{epoch}.pt")
        """),
        Valid("""
            for epoch in range(epochs):
                train_one_epoch(model, train_loader, optimizer)
                test_acc = evaluate(model, test_loader)
                torch.save({"model": model.state_dict(), "test_acc": test_acc}, f"ckpt_{epoch}.pt")
        """),
        Valid("""
            for epoch in range(epochs):
                train_one_epoch(model, train_loader, optimizer)
                val_loss = evaluate(model, valid_loader)
                early_stopping(val_loss, model)
                if early_stopping.early_stop:
                    break
            model.load_state_dict(torch.load("checkpoint.pt", weights_only=True))
            test_loss = evaluate(model, test_loader)
        """),
        Valid("""
            train_ds, test_ds = random_split(dataset, [0.8, 0.2])
            train_loader, test_loader = make_loaders(train_ds, test_ds)
            for epoch in range(epochs):
                train_loss = train_epoch(model, train_loader, optimizer)
                if train_loss < best_train_loss:
                    best_train_loss = train_loss
                    torch.save(model.state_dict(), "lowest_train_loss.pt")
        """),
        Valid("""
            for x, y in test_loader:
                pred = model(x).argmax(1)
                if (pred != y).any():
                    break
        """),
    ]
    INVALID = [
        # search-index file 23174656158 (a Korean review classifier): early stopping restores the
        # weights that scored best on the test split, then reports the test accuracy
        Invalid(
            """
            from sklearn.model_selection import train_test_split
            from tensorflow.keras.callbacks import EarlyStopping
            X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.1)
            early_stopping = EarlyStopping(monitor="val_accuracy", patience=3, restore_best_weights=True)
            fit_hist = model.fit(X_train, Y_train, batch_size=128, epochs=50,
                                 validation_data=(X_test, Y_test), callbacks=[early_stopping])
            score = model.evaluate(X_test, Y_test, verbose=0)
            """,
            line=5,
        ),
        # search-index file 15264838038: MNIST's test set keeps the best checkpoint
        Invalid(
            """
            from tensorflow import keras
            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
            cp_callback = keras.callbacks.ModelCheckpoint("best.h5", save_weights_only=False, save_best_only=True)
            model.fit(x_train, y_train, epochs=5, validation_data=(x_test, y_test), callbacks=[cp_callback])
            """,
            line=4,
        ),
        # the held-out split is named neither test nor val: its `train=False` provenance decides
        Invalid("""
            import torch
            from torch.utils.data import DataLoader
            from torchvision import datasets
            heldout = datasets.MNIST("data", train=False, transform=transform)
            eval_loader = DataLoader(heldout, batch_size=256)
            for epoch in range(epochs):
                train(model, train_loader, optimizer)
                acc = evaluate(model, eval_loader)
                if acc > best_acc:
                    best_acc = acc
                    torch.save(model.state_dict(), "best.pt")
        """, line=9),
        Invalid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            test_loader = DataLoader(datasets.CIFAR10("data", train=False), batch_size=256)
            for epoch in range(epochs):
                train_one_epoch(model, train_loader, optimizer)
                test_acc = evaluate(model, test_loader)
                if test_acc > best_acc:
                    best_acc = test_acc
                    torch.save(model.state_dict(), "best.pt")
        """, line=7),
        Invalid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            test_loader = DataLoader(datasets.CIFAR10("data", train=False), batch_size=256)
            def train(model, loader, opt):
                for x, y in loader:
                    opt.zero_grad()
                    loss_fn(model(x), y).backward()
                    opt.step()

            for epoch in range(epochs):
                train(model, train_loader, opt)
                test_loss = evaluate(model, test_loader)
                scheduler.step(test_loss)
        """, line=13),
        Invalid("""
            from sklearn.model_selection import train_test_split
            X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
            patience, bad_epochs = 5, 0
            for epoch in range(100):
                for xb, yb in train_dl:
                    opt.zero_grad()
                    F.mse_loss(net(xb), yb).backward()
                    opt.step()
                with torch.no_grad():
                    loss = F.mse_loss(net(X_test), y_test).item()
                if loss < best:
                    best, bad_epochs = loss, 0
                else:
                    bad_epochs += 1
                if bad_epochs >= patience:
                    break
        """, line=11),
        Invalid("""
            import torchvision
            from torch.utils.data import DataLoader
            testset = torchvision.datasets.CIFAR10(root="./data", train=False, transform=transform_test)
            testloader = DataLoader(testset, batch_size=256)
            for epoch in range(start_epoch, start_epoch + 200):
                train(epoch)
                correct = total = 0
                for inputs, targets in testloader:
                    predicted = net(inputs).argmax(1)
                    correct += predicted.eq(targets).sum().item()
                    total += targets.size(0)
                acc = 100.0 * correct / total
                is_best = acc > best_acc
                best_acc = max(acc, best_acc)
                save_checkpoint({"net": net.state_dict(), "acc": acc}, is_best)
        """, line=15),
        Invalid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            test_loader = DataLoader(datasets.CIFAR10("data", train=False), batch_size=256)
            for epoch in range(epochs):
                train_epoch(model, train_loader, optimizer)
                test_loss = evaluate(model, test_loader)
                early_stopping(test_loss, model)
                if early_stopping.early_stop:
                    break
        """, line=7),
        Invalid("""
            loaders = {"train": train_dl, "test": test_dl}
            for epoch in range(epochs):
                train_epoch(model, loaders["train"], optimizer)
                metrics = evaluate(model, loaders["test"])
                if metrics["f1"] > best_f1:
                    best_f1 = metrics["f1"]
                    best_state = copy.deepcopy(model.state_dict())
        """, line=5),
        Invalid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            testloader = DataLoader(datasets.CIFAR10("data", train=False), batch_size=256)
            def train_epoch(model, loader, optimizer):
                for batch in loader:
                    optimizer.zero_grad()
                    model(**batch).loss.backward()
                    optimizer.step()

            def test(epoch):
                global best_acc
                correct = total = 0
                for inputs, targets in testloader:
                    correct += net(inputs).argmax(1).eq(targets).sum().item()
                    total += targets.size(0)
                acc = 100.0 * correct / total
                if acc > best_acc:
                    torch.save(net.state_dict(), "./checkpoint/ckpt.pth")
                    best_acc = acc

            for epoch in range(200):
                train_epoch(net, trainloader, optimizer)
                test(epoch)
        """, line=17),
        Invalid("""
            from torch.utils.data import DataLoader
            from torchvision import datasets
            test_loader = DataLoader(datasets.CIFAR10("data", train=False), batch_size=256)
            for epoch in range(num_epochs):
                model.train()
                for images, labels in train_loader:
                    optimizer.zero_grad()
                    criterion(model(images), labels).backward()
                    optimizer.step()
                test_accuracy = compute_accuracy(model, test_loader)
                if test_accuracy >= target_accuracy:
                    print("reached target, stopping")
                    break
        """, line=11),
    ]

    @property
    def _by_name(self) -> bool:
        return bool(self.settings[TEST_DATA_BY_NAME])

    def visit_If(self, node: cst.If) -> None:
        if not mentions_test_data(self.context):
            return
        evidence = decision_evidence(self.context, node.test, by_name=self._by_name)
        if evidence is not None and self._keeps_or_stops(node) and self._in_training():
            self.report(node, self.message.format(evidence=evidence, what="chooses the checkpoint or stops training"))

    def visit_Call(self, node: cst.Call) -> None:
        if not node.args or not mentions_test_data(self.context):
            return
        keras = self._keras_selection(node)
        if keras is not None:
            self.report(node, self.message_keras.format(evidence=keras[0], callback=keras[1]))
            return
        found = self._decision_made_by(node)
        if found is not None and self._in_training():
            what, evidence = found
            self.report(node, self.message.format(evidence=evidence, what=what))

    def _keras_selection(self, call: cst.Call) -> tuple[str, str] | None:
        """``model.fit(X_train, y_train, validation_data=(X_test, y_test), callbacks=[early_stop])``:
        the test data as Keras' validation data, with a callback that stops or keeps the best
        weights on it: (why it is test data, the callback)."""
        validation = keyword_arg(call, VALIDATION_DATA)
        callbacks = keyword_arg(call, "callbacks")
        if method_name(call) not in KERAS_FIT_METHODS or validation is None or callbacks is None:
            return None
        evidence = evidence_of_test_data(self.context, validation.value, by_name=self._by_name)
        if evidence is None or not isinstance(callbacks.value, (cst.List, cst.Tuple)):
            return None
        for element in callbacks.value.elements:
            selecting = self._selecting_callback(element.value)
            if selecting is not None:
                return evidence, selecting
        return None

    def _selecting_callback(self, expr: cst.BaseExpression) -> str | None:
        """The name of a Keras callback that stops, keeps the best weights or lowers the rate on the
        validation metric: ``EarlyStopping(...)``, ``ModelCheckpoint(..., save_best_only=True)``."""
        located = constructor(self.context, expr, self.context.enclosing(cst.ClassDef))
        built = located.expr if located is not None else None
        if not isinstance(built, cst.Call):
            return None
        resolved = self.context.names.resolve(built.func)
        if resolved not in SELECTING_CALLBACKS:
            return None
        monitor = keyword_arg(built, "monitor")
        if monitor is not None and isinstance(monitor.value, cst.SimpleString) \
                and not str(monitor.value.evaluated_value).startswith("val"):
            return None  # it watches a training metric
        if resolved.endswith("ModelCheckpoint"):
            best_only = keyword_arg(built, "save_best_only")
            if best_only is None or not (isinstance(best_only.value, cst.Name) and best_only.value.value == "True"):
                return None  # saves every epoch: nothing is chosen
        return f"`{resolved.rsplit('.', 1)[-1]}`"

    def _decision_made_by(self, call: cst.Call) -> tuple[str, str] | None:
        """What the call decides and why its argument is test data, if it decides on test data."""
        name = dotted_name(call.func) or ""
        if is_scheduler_step(call):
            return self._on_arguments(call, "drives the LR scheduler", evidence_of_test_data)
        if _EARLY_STOPPER.search(name):
            return self._on_arguments(call, "drives early stopping", evidence_of_test_data)
        if _SAVES.search(name.rsplit(".", 1)[-1]) and not _SAVES_PICTURES.search(name):
            return self._on_arguments(call, "chooses the checkpoint", decision_evidence)
        return None

    def _on_arguments(self, call: cst.Call, what: str,
                      evidence_of: Callable[..., str | None]) -> tuple[str, str] | None:
        for arg in call.args:
            evidence = evidence_of(self.context, arg.value, by_name=self._by_name)
            if evidence is not None:
                return what, evidence
        return None

    def _keeps_or_stops(self, node: cst.If) -> bool:
        """Whether the branches save or copy the model, stop the loop, or update stopping state."""
        for inner in nodes_in(self.context, node):
            if isinstance(inner, (cst.Break, cst.Return)):
                return True
            called = dotted_name(inner.func) if isinstance(inner, cst.Call) else None
            if called and _KEEPS_OR_STOPS.search(called) and not _SAVES_PICTURES.search(called):
                return True
            if isinstance(inner, (cst.Assign, cst.AugAssign)):
                targets = [t.target for t in inner.targets] if isinstance(inner, cst.Assign) else [inner.target]
                names = [n for t in targets for n in [t, *nodes_in(self.context, t)] if isinstance(n, cst.Name)]
                if any(_STOPPING_STATE.search(name.value) for name in names):
                    return True
        return False

    def _in_training(self) -> bool:
        """Inside a loop that trains (an epoch loop that calls ``train...()`` counts), or in a
        function that a training loop of this file calls."""
        within = self.context.enclosing(cst.ClassDef)
        if any(self._trains(loop, within) for loop in enclosing_loops(self.context)):
            return True
        function = self.context.enclosing(cst.FunctionDef)
        if function is None:
            return False
        return any(self._trains(loop, within) for site in call_sites(self.context, function)
                   for loop in loops_around(self.context, site))

    def _trains(self, loop: cst.For | cst.While, within: cst.ClassDef | None) -> bool:
        if trains(self.context, loop, within):
            return True
        if not isinstance(loop, cst.For) or not _EPOCH.search(self.context.code(loop.target)):
            return False
        return any(_TRAIN_CALL.search((dotted_name(c.func) or "").rsplit(".", 1)[-1]) for c in calls_in(self.context, loop))
