"""Leave every random number generator as it was found.

:func:`dlsan.sanity_check` seeds torch before each of its training runs (so that the run on zeroed
inputs sees the same initial dropout masks as the run on real inputs) and the model's own code may
draw from Python's and NumPy's generators; all of them are put back exactly afterwards.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


@contextmanager
def preserved_rng(device: torch.device) -> Iterator[None]:
    if device.type == "cuda":
        torch.cuda.init()  # type: ignore[no-untyped-call]  # so that the state saved is the one a later first use would see
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
    cpu_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if cuda else None
    python_state = random.getstate()
    numpy_random: Any = sys.modules.get("numpy.random")
    numpy_state = numpy_random.get_state() if numpy_random is not None else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        random.setstate(python_state)
        if numpy_state is not None:
            numpy_random.set_state(numpy_state)
