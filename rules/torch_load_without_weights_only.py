from __future__ import annotations

import libcst as cst

from dlsan.lint.analysis.nodes import callee_among
from dlsan.lint.calls import append_keyword, get_arg, has_unpacking
from dlsan.lint.rule import FixSpec, InsertAfter, Invalid, Rule, Valid

_TORCH_LOAD = frozenset({"torch.load", "torch.serialization.load"})
#: torch.load(f, map_location, pickle_module, ...)
_PICKLE_MODULE_POSITION = 2


class TorchLoadWithoutWeightsOnly(Rule):
    """
    ## What it does
    Flags `torch.load(...)` calls that do not pass `weights_only=`.

    ## Why is this bad?
    `torch.load` unpickles its input, and unpickling runs arbitrary code: loading a checkpoint
    downloaded from the internet, a shared drive or a model hub can execute whatever its author
    put in it. `weights_only=True` restricts unpickling to tensors, primitive types and
    allow-listed classes. PyTorch changed the default to `True` in 2.6, so code that relies on the
    default also behaves differently across versions; saying it explicitly fixes both.

    ## Example
    ```python
    state = torch.load("checkpoint.pt", map_location="cpu")
    ```

    ## Use instead
    ```python
    state = torch.load("checkpoint.pt", map_location="cpu", weights_only=True)
    ```
    (or `weights_only=False` for a trusted file that pickles custom objects).

    ## Fix safety
    Unsafe: a checkpoint that pickles custom classes (optimizer wrappers, dataclasses, numpy
    arrays on older versions) stops loading with `weights_only=True` until those classes are
    allow-listed with `torch.serialization.add_safe_globals`.
    """

    code = "DLS602"
    name = "torch-load-without-weights-only"
    message = (
        "`torch.load` without `weights_only=` unpickles arbitrary objects, which can run code "
        "from the file; pass `weights_only=True` (or `weights_only=False` only for files you trust)"
    )
    fix_applicability = "unsafe"

    VALID = [
        Valid('state = torch.load("ckpt.pt", weights_only=True)'),
        Valid('import torch\nstate = torch.load("ckpt.pt", map_location="cpu", weights_only=False)'),
        Valid('import torch\nstate = torch.load(path, **load_kwargs)'),
        Valid('import numpy as np\narr = np.load("x.npy")'),
        Valid('import pickle\nobj = pickle.load(open("x.pkl", "rb"))'),
        Valid('import torch\ndef load(path):\n    return path\nstate = load("ckpt.pt")'),
        Valid('import torch\nstate = torch.jit.load("model.pt")'),
        Valid('from torch import load\nstate = load(f, weights_only=True)'),
        Valid('import functools, torch\nload_cpu = functools.partial(torch.load, map_location="cpu", weights_only=True)'),
        Valid('from functools import partial\nimport numpy as np\nload = partial(np.load, allow_pickle=False)'),
    ]
    INVALID = [
        Invalid(
            'import torch\nstate = torch.load("ckpt.pt")\n',
            line=2,
            fixed='import torch\nstate = torch.load("ckpt.pt", weights_only=True)\n',
        ),
        Invalid(
            'import torch\nmodel.load_state_dict(torch.load(path, map_location="cpu"))\n',
            line=2,
            fixed='import torch\nmodel.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))\n',
        ),
        Invalid(
            'from torch import load\nckpt = load(args.resume)\n',
            line=2,
            fixed='from torch import load\nckpt = load(args.resume, weights_only=True)\n',
        ),
        Invalid(
            'import torch as T\nckpt = T.load(\n    path,\n    map_location=device,\n)\n',
            line=2,
            fixed='import torch as T\nckpt = T.load(\n    path,\n    map_location=device, weights_only=True,\n)\n',
        ),
        Invalid('import torch.serialization\nsd = torch.serialization.load(buf)\n', line=2),
        Invalid('from torch import *\nsd = load("w.pt")\n', line=2),
        Invalid(
            'import torch\n\ndef resume(path, model, optimizer):\n'
            '    ckpt = torch.load(path)\n'
            '    model.load_state_dict(ckpt["model"])\n'
            '    optimizer.load_state_dict(ckpt["optimizer"])\n'
            '    return ckpt["epoch"]\n',
            line=4,
        ),
        Invalid('import torch\nload_fn = torch.load\nsd = load_fn("w.pt")\n', line=3),
        Invalid(
            'import functools\nimport torch\nload_cpu = functools.partial(torch.load, map_location="cpu")\n',
            line=3,
            fixed='import functools\nimport torch\n'
            'load_cpu = functools.partial(torch.load, map_location="cpu", weights_only=True)\n',
        ),
        Invalid('from functools import partial\nfrom torch import *\nreader = partial(load, mmap=True)\n', line=3),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        called = callee_among(self.context, node, _TORCH_LOAD)
        if called is None or get_arg(node, "weights_only") is not None or has_unpacking(node):
            return
        fix = None
        where = append_keyword(node, "weights_only=True")
        if where is not None and get_arg(node, "pickle_module", _PICKLE_MODULE_POSITION + called[1]) is None:
            fix = FixSpec("Add `weights_only=True`", [InsertAfter(*where)])
        self.report(node, fix=fix)
