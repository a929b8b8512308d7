"""``batch-independence``: sample i's output does not depend on any other sample's input.

Karpathy's "use backprop to chart dependencies": the gradient of the sum of sample i's outputs
with respect to the whole batch's input must be exactly zero everywhere but row i.  A ``view`` or
``reshape`` that folds the batch into another dimension, a ``transpose`` before a per-row
operation, attention or a recurrence run over the batch axis (``batch_first`` forgotten) all make
it non-zero.  The model runs in eval mode, because batch-norm in training mode mixes the batch
through its statistics by design.  For integer inputs (token ids) the dependency is measured from
the first floating activation (the embedding's output).  Models that mix the batch on purpose
(contrastive losses inside the model, set models) are skipped when told, with
``mixes_batch=True``; so are time-major models (inputs ``(T, N, ...)``), since dimension 0 is taken
as the batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from dlsan.runtime.checkreport import CheckResult, failed, passed, skipped, some
from dlsan.runtime.sanity.batch import batch_size, call_model, map_tensors, tensors
from dlsan.runtime.sanity.session import Session
from dlsan.runtime.sanity.thresholds import SEED

NAME = "batch-independence"


def run(session: Session, *, mixes_batch: bool) -> CheckResult:
    if mixes_batch:
        return skipped(NAME, "told the model mixes the batch on purpose (mixes_batch=True)")
    size = batch_size(session.inputs)
    if size < 2:
        return skipped(NAME, "needs a batch of at least 2 examples")
    torch.manual_seed(SEED)
    model = session.fresh_model(training=False)
    watched, where, output = _forward_with_leaves(model, session.inputs, size)
    if not watched:
        return skipped(NAME, "no floating input or activation has the batch in dimension 0")
    outputs = [t for t in tensors(output) if t.is_floating_point() and t.dim() > 0 and t.shape[0] == size]
    outputs = [t for t in outputs if t.requires_grad]
    if not outputs:
        return skipped(NAME, f"no output depends on {where} with the batch in dimension 0")
    leaks: dict[int, list[int]] = {}
    nonfinite = False
    for i in sorted({0, size - 1}):
        total = sum(t[i].sum() for t in outputs)
        assert isinstance(total, torch.Tensor)
        grads = torch.autograd.grad(total, watched, retain_graph=True, allow_unused=True)
        touched = torch.zeros(size, dtype=torch.bool, device=watched[0].device)
        for grad in grads:
            if grad is not None:
                rows = grad.reshape(size, -1)
                finite = torch.isfinite(rows)
                nonfinite = nonfinite or not bool(finite.all())
                touched |= (rows.ne(0) & finite).any(dim=1)
        others = [j for j in touched.nonzero().flatten().tolist() if j != i]
        if others:
            leaks[i] = others
    details = {"batch": size, "measured_at": where, "leaks": {str(i): js for i, js in leaks.items()},
               "nonfinite_gradients": nonfinite}
    if leaks:
        i, others = next(iter(leaks.items()))
        return failed(
            NAME, f"the output of sample {i} has a non-zero gradient w.r.t. {where} of samples {some(others, 8)} "
            f"({len(others)} of {size - 1} others): the model mixes examples across the batch "
            "(a view/reshape/transpose over dimension 0, or attention/recurrence over the batch axis: batch_first?)",
            **details,
        )
    if nonfinite:  # 0 * NaN is NaN: a NaN elsewhere in the batch shows up in every row
        return skipped(NAME, "the input gradients are not finite (see zero-lr-finite)", **details)
    return passed(NAME, f"outputs of samples {sorted({0, size - 1})} have zero gradient w.r.t. {where} "
                  f"of the other {size - 1} samples", **details)


def _forward_with_leaves(model: nn.Module, inputs: Any, size: int) -> tuple[list[torch.Tensor], str, Any]:
    """Run the model with the batch's floating inputs as gradient leaves, or, when the inputs are
    integers, with the first floating activation that has the batch in dimension 0 as the leaf."""
    leaves: list[torch.Tensor] = []

    def leaf(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.is_floating_point() and tensor.dim() > 0 and tensor.shape[0] == size:
            tensor = tensor.detach().clone().requires_grad_(True)
            leaves.append(tensor)
        return tensor

    prepared = map_tensors(inputs, leaf)
    if leaves:
        with torch.enable_grad():
            return leaves, "the input", call_model(model, prepared)
    found: list[str] = []
    names = {id(module): name for name, module in model.named_modules()}
    storages = {_storage(t) for t in tensors(inputs)}

    def first_activation(module: nn.Module, args: Any, output: Any) -> Any:
        if leaves or not any(_storage(t) in storages for t in tensors(args)):
            return None  # only a module fed the batch itself (an embedding of the token ids)
        replaced = map_tensors(output, leaf)
        if leaves:
            found.append(names.get(id(module), type(module).__name__))
            return replaced
        return None

    handles: list[RemovableHandle] = [
        module.register_forward_hook(first_activation) for module in model.modules() if module is not model
    ]
    try:
        with torch.enable_grad():
            output = call_model(model, prepared)
    finally:
        for handle in handles:
            handle.remove()
    return leaves, f"the output of {found[0]!r}" if found else "", output


def _storage(tensor: torch.Tensor) -> int:
    return int(tensor.untyped_storage().data_ptr())
