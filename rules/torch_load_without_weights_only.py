from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.nodes import callee_among, calls_in
from dlsan.lint.calls import append_keyword, get_arg, has_unpacking
from dlsan.lint.catalog.torch_api import TORCH_LOAD
from dlsan.lint.rule import FixSpec, InsertAfter, Invalid, Rule, Valid
from dlsan.torch_target import DEFAULT, OPTION, parse_version

#: torch.load(f, map_location, pickle_module, ...)
_PICKLE_MODULE_POSITION = 2
#: the first version whose ``torch.load`` defaults to ``weights_only=True``
_SAFE_DEFAULT = (2, 6)
#: what a whole pickled model is used for after loading: it is called, or run as a module
_MODULE_USES = frozenset({"eval", "train", "forward", "parameters", "state_dict", "named_parameters", "cuda"})
_WHOLE_MODEL_ADVICE = (
    "; this file loads a whole pickled model, which `weights_only=True` cannot load: save "
    "`model.state_dict()` instead and load it into a freshly built model with `load_state_dict`"
)


class TorchLoadWithoutWeightsOnly(Rule):
    """
    ## What it does
    Flags `torch.load(...)` calls that unpickle arbitrary objects: from PyTorch 2.6 on (the
    default target), an explicit `weights_only=False` or a `pickle_module=` (which turns the safe
    default off); when the project targets an older PyTorch (`target-torch-version` below 2.6),
    every call without `weights_only=`.

    ## Why is this bad?
    Unpickling runs arbitrary code: loading a checkpoint downloaded from the internet, a shared
    drive or a model hub can execute whatever its author put in it. `weights_only=True` restricts
    unpickling to tensors, primitive types and allow-listed classes. PyTorch made it the default
    in 2.6, so there the danger is the explicit opt-out; before 2.6 the default itself unpickles.

    The target version comes from `--target-torch-version`, `[tool.dlsan] target-torch-version`,
    or the lowest `torch` version the checked project's `pyproject.toml` / `requirements*.txt`
    allows; without any of them it is 2.6.

    ## Example
    ```python
    state = torch.load("checkpoint.pt", map_location="cpu", weights_only=False)
    ```

    ## Use instead
    ```python
    state = torch.load("checkpoint.pt", map_location="cpu")  # weights_only=True from 2.6 on
    ```
    Allow-list the few custom classes a checkpoint holds with
    `torch.serialization.add_safe_globals([MyConfig])`. A whole pickled model
    (`torch.save(model)`) cannot be loaded safely: save `model.state_dict()` and load it with
    `model.load_state_dict(torch.load(path))` into a model built from its class.

    ## Fix safety
    Below 2.6 only, and unsafe: adding `weights_only=True` stops a checkpoint that pickles
    custom classes (optimizer wrappers, dataclasses, numpy arrays on older versions) from loading
    until those classes are allow-listed with `torch.serialization.add_safe_globals`. No fix is
    offered for a whole-model load, nor from 2.6 on (dropping `weights_only=False` may stop a
    trusted file from loading).
    """

    code = "DLS602"
    name = "torch-load-without-weights-only"
    message = (
        "`torch.load` with `weights_only=False` unpickles arbitrary objects, which can run code from "
        "the file; since PyTorch 2.6 the default `weights_only=True` loads tensors and state dicts "
        "safely: drop `weights_only=False` (allow-list custom classes with "
        "`torch.serialization.add_safe_globals`)"
    )
    message_pickle_module = (
        "`torch.load(..., pickle_module=...)` turns off the safe `weights_only=True` default of "
        "PyTorch 2.6+ and unpickles arbitrary objects, which can run code from the file; drop "
        "`pickle_module=` or pass `weights_only=True`"
    )
    message_before_safe_default = (
        "`torch.load` without `weights_only=` unpickles arbitrary objects in PyTorch {version} "
        "(the safe default arrived in 2.6), which can run code from the file; pass "
        "`weights_only=True` (or `weights_only=False` only for files you trust)"
    )
    fix_applicability = "unsafe"
    options = {OPTION: DEFAULT}

    VALID = [
        Valid('import torch\nstate = torch.load("ckpt.pt")'),
        Valid('import torch\nstate = torch.load("ckpt.pt", map_location="cpu", weights_only=True)'),
        Valid('import torch\nstate = torch.load(path, **load_kwargs)'),
        Valid('import numpy as np\narr = np.load("x.npy", allow_pickle=False)'),
        Valid('import pickle\nobj = pickle.load(open("x.pkl", "rb"))'),
        Valid('import torch\ndef load(path, weights_only=False):\n    return path\nstate = load("ckpt.pt", weights_only=False)'),
        Valid('import torch\nstate = torch.jit.load("model.pt")'),
        Valid('from torch import load\nstate = load(f, map_location=device)'),
        Valid('import functools, torch\nload_cpu = functools.partial(torch.load, map_location="cpu")'),
        Valid('from functools import partial\nimport numpy as np\nload = partial(np.load, allow_pickle=True)'),
    ]
    INVALID = [
        Invalid('import torch\nstate = torch.load("ckpt.pt", weights_only=False)\n', line=2),
        Invalid('import torch\nmodel.load_state_dict(torch.load(path, map_location="cpu", weights_only=False))\n',
                line=2),
        Invalid('from torch import load\nckpt = load(args.resume, weights_only=False)\n', line=2),
        Invalid('import torch as T\nimport dill\nckpt = T.load(\n    path,\n    pickle_module=dill,\n)\n', line=3),
        Invalid('import torch, pickle\nsd = torch.load(buf, "cpu", pickle)\n', line=2),
        Invalid('from torch import *\nsd = load("w.pt", weights_only=False)\n', line=2),
        Invalid(
            'import torch\n\ndef resume(path, model, optimizer):\n'
            '    ckpt = torch.load(path, weights_only=False)\n'
            '    model.load_state_dict(ckpt["model"])\n'
            '    optimizer.load_state_dict(ckpt["optimizer"])\n'
            '    return ckpt["epoch"]\n',
            line=4,
        ),
        Invalid('import torch\nload_fn = torch.load\nsd = load_fn("w.pt", weights_only=False)\n', line=3),
        Invalid('import functools\nimport torch\nload_cpu = functools.partial(torch.load, weights_only=False)\n',
                line=3),
        Invalid('import torch\nmodel = torch.load("model.pth", weights_only=False)\nmodel.eval()\n', line=2),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        called = callee_among(self.context, node, TORCH_LOAD)
        if called is None or has_unpacking(node):
            return
        weights_only = get_arg(node, "weights_only")
        pickle_module = get_arg(node, "pickle_module", _PICKLE_MODULE_POSITION + called[1])
        version = self._target()
        if version >= _SAFE_DEFAULT:
            if weights_only is not None and _is_false(weights_only.value):
                self.report(node, self.message + self._model_advice(node))
            elif weights_only is None and pickle_module is not None:
                self.report(node, self.message_pickle_module)
            return
        if weights_only is not None:
            return
        whole_model = self._model_advice(node)
        message = self.message_before_safe_default.format(version=f"{version[0]}.{version[1]}") + whole_model
        fix = None
        where = append_keyword(node, "weights_only=True")
        if where is not None and pickle_module is None and not whole_model:
            fix = FixSpec("Add `weights_only=True`", [InsertAfter(*where)])
        self.report(node, message, fix=fix)

    def _target(self) -> tuple[int, int]:
        return parse_version(str(self.settings.get(OPTION) or DEFAULT))

    def _model_advice(self, node: cst.Call) -> str:
        """The whole-model advice when the loaded object is assigned to a name used as a module."""
        parent = self.context.parent()
        if not (isinstance(parent, cst.Assign) and len(parent.targets) == 1
                and isinstance(parent.targets[0].target, cst.Name) and parent.value is node):
            return ""
        loaded = parent.targets[0].target.value
        for use in calls_in(self.context, self.context.semantic.walk_function(self.context.ancestors).node):
            func = use.func
            if isinstance(func, cst.Name) and func.value == loaded:
                return _WHOLE_MODEL_ADVICE
            if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                    and func.value.value == loaded and func.attr.value in _MODULE_USES):
                return _WHOLE_MODEL_ADVICE
        return ""


def _is_false(value: cst.BaseExpression) -> bool:
    return isinstance(value, cst.Name) and value.value == "False"
