"""The API catalogue as data, in one place: canonical qualified names and what each API expects.

* :mod:`.names` - :func:`canonical`: one spelling per API (re-exports and aliases resolved);
* :mod:`.frameworks` - :class:`Framework` and :func:`framework_of` a qualified name;
* :mod:`.torch_api` - losses and the input they expect, activations, mode-dependent and mode-free
  layers, containers, self-returning / in-place / graph-free methods, grad-mode managers,
  optimizers, schedulers, scalers, data loading;
* :mod:`.sklearn_api` - transformers, scaling functions, imbalanced-learn samplers, splitters;
* :mod:`.keras_api` - ``fit(validation_data=...)`` and its selecting callbacks;
* :mod:`.torchvision_api` - random vs deterministic transforms.

Tables are keyed by canonical names; look names up through ``context.names`` (which canonicalises).
"""

from __future__ import annotations

from dlsan.lint.catalog.frameworks import DEEP_LEARNING, Framework, framework_of
from dlsan.lint.catalog.names import canonical

__all__ = ["DEEP_LEARNING", "Framework", "canonical", "framework_of"]
