"""Frameworks of origin, and which framework a qualified name belongs to."""

from __future__ import annotations

import enum


class Framework(enum.Enum):
    TORCH = "torch"
    NUMPY = "numpy"
    MXNET = "mxnet"
    TENSORFLOW = "tensorflow"
    JAX = "jax"
    PADDLE = "paddle"
    SKLEARN = "sklearn"
    PANDAS = "pandas"


#: top-level packages (and a few wrappers built on one framework) -> the framework
_PACKAGES: dict[str, Framework] = {
    "torch": Framework.TORCH, "torchvision": Framework.TORCH, "torchaudio": Framework.TORCH,
    "torchtext": Framework.TORCH, "timm": Framework.TORCH, "lightning": Framework.TORCH,
    "pytorch_lightning": Framework.TORCH, "torchmetrics": Framework.TORCH, "accelerate": Framework.TORCH,
    "numpy": Framework.NUMPY,
    "mxnet": Framework.MXNET, "gluonnlp": Framework.MXNET, "gluoncv": Framework.MXNET,
    "tensorflow": Framework.TENSORFLOW, "keras": Framework.TENSORFLOW, "tf_keras": Framework.TENSORFLOW,
    "jax": Framework.JAX, "flax": Framework.JAX, "optax": Framework.JAX, "haiku": Framework.JAX,
    "paddle": Framework.PADDLE, "paddlenlp": Framework.PADDLE,
    "sklearn": Framework.SKLEARN, "imblearn": Framework.SKLEARN, "category_encoders": Framework.SKLEARN,
    "pandas": Framework.PANDAS,
}
#: frameworks with their own tensors, modules and training loops, none of which is torch's
DEEP_LEARNING = frozenset({Framework.TORCH, Framework.MXNET, Framework.TENSORFLOW, Framework.JAX, Framework.PADDLE})


def framework_of(qualified: str | None) -> Framework | None:
    """The framework a qualified name comes from (``mxnet.gluon.nn.Dense`` -> MXNet)."""
    if not qualified:
        return None
    return _PACKAGES.get(qualified.split(".", 1)[0])
