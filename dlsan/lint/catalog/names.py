"""Canonical qualified names: one spelling for every re-export and alias of an API.

``torch.nn.modules.loss.MSELoss`` is ``torch.nn.MSELoss``, ``torch.optim.adam.Adam`` is
``torch.optim.Adam``, ``tensorflow.keras.callbacks.EarlyStopping`` is
``keras.callbacks.EarlyStopping``, ``sklearn.preprocessing._data.StandardScaler`` is
``sklearn.preprocessing.StandardScaler``.  ``context.names`` applies :func:`canonical` to every
name it resolves, so the tables of the catalogue list each API once, by its canonical name.
"""

from __future__ import annotations

import functools

#: exact aliases (after the prefix rules below)
_ALIASES: dict[str, str] = {
    "torch.serialization.load": "torch.load",
    "torch.serialization.save": "torch.save",
    "torch.autograd.no_grad": "torch.no_grad",
    "torch.autograd.enable_grad": "torch.enable_grad",
    "torch.autograd.inference_mode": "torch.inference_mode",
    "torch.autograd.set_grad_enabled": "torch.set_grad_enabled",
    "torch.autograd.grad_mode.no_grad": "torch.no_grad",
    "torch.autograd.grad_mode.enable_grad": "torch.enable_grad",
    "torch.autograd.grad_mode.inference_mode": "torch.inference_mode",
    "torch.autograd.grad_mode.set_grad_enabled": "torch.set_grad_enabled",
    "torch.cuda.amp.GradScaler": "torch.amp.GradScaler",
    "torch.cuda.amp.grad_scaler.GradScaler": "torch.amp.GradScaler",
    "torch.amp.grad_scaler.GradScaler": "torch.amp.GradScaler",
    "torch.cuda.amp.autocast": "torch.autocast",
    "torch.amp.autocast": "torch.autocast",
    "torch.utils.data.dataloader.DataLoader": "torch.utils.data.DataLoader",
    "torch.utils.data.dataset.random_split": "torch.utils.data.random_split",
    "torch.utils.data.dataset.Subset": "torch.utils.data.Subset",
    "torch.utils.data.dataset.Dataset": "torch.utils.data.Dataset",
    "torch.utils.data.dataset.TensorDataset": "torch.utils.data.TensorDataset",
    "torch.nn.parallel.distributed.DistributedDataParallel": "torch.nn.parallel.DistributedDataParallel",
    "torch.nn.parallel.data_parallel.DataParallel": "torch.nn.DataParallel",
    "torch.nn.parallel.DataParallel": "torch.nn.DataParallel",
    "torch.nn.utils.clip_grad.clip_grad_norm_": "torch.nn.utils.clip_grad_norm_",
    "torch.nn.utils.clip_grad.clip_grad_value_": "torch.nn.utils.clip_grad_value_",
    "torch.nn.utils.clip_grad.clip_grad_norm": "torch.nn.utils.clip_grad_norm",
    "torch.special.expit": "torch.sigmoid",
    "torch.special.softmax": "torch.softmax",
    "torch.special.log_softmax": "torch.log_softmax",
    "torch.nn.functional.sigmoid": "torch.sigmoid",
    "sklearn.preprocessing.Imputer": "sklearn.impute.SimpleImputer",
}
_KERAS_PREFIXES = ("tensorflow.keras.", "tensorflow.python.keras.", "tf_keras.", "keras.src.")


@functools.lru_cache(maxsize=1 << 16)
def canonical(qualified: str) -> str:
    """The canonical spelling of ``qualified`` (itself when it has no other; remembered: rules ask
    it for the same few names over and over)."""
    parts = qualified.split(".")
    if len(parts) >= 5 and parts[:3] == ["torch", "nn", "modules"]:
        qualified = "torch.nn." + ".".join(parts[4:])       # torch.nn.modules.loss.MSELoss
    elif (len(parts) == 4 and parts[:2] == ["torch", "optim"] and parts[2] != "lr_scheduler"
          and parts[2].islower() and parts[3][:1].isupper()):
        qualified = f"torch.optim.{parts[3]}"               # torch.optim.adam.Adam
    elif len(parts) == 5 and parts[:3] == ["torch", "optim", "lr_scheduler"]:
        qualified = "torch.optim.lr_scheduler." + parts[4]
    elif parts[0] == "sklearn" and len(parts) >= 4 and parts[2].startswith("_"):
        qualified = f"sklearn.{parts[1]}.{parts[-1]}"     # sklearn.preprocessing._data.StandardScaler
    else:
        for prefix in _KERAS_PREFIXES:
            if qualified.startswith(prefix):
                qualified = "keras." + qualified[len(prefix):]
                break
    return _ALIASES.get(qualified, qualified)
