"""Two-process gloo run of an instrumented ``DistributedDataParallel`` model, for ``test_ddp.py``.

The test starts this script once per rank (``python ddp_worker.py RANK STORE_FILE OUT_DIR``); the
processes rendezvous through a ``FileStore`` (gloo then talks over loopback only) and each writes
``rank<N>.json`` with what it saw.  Separate processes keep ``torch.distributed`` state out of the
test session and let the test kill a run that hangs in a collective.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import dlsan

WORLD = 2
POISONED_RANK = 1


class Poison(nn.Module):
    """Multiplies by NaN once armed: a bug that shows on one rank only (its data)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("nan") if self.armed else x * 1.0


def _collectives(steps: Callable[[], None]) -> int:
    """Collective operations issued while ``steps()`` runs.  The process group numbers every
    collective it runs, DDP's own C++ all-reduces as well as any Python call, so the difference of
    its sequence number counts them all."""
    group = dist.distributed_c10d._get_default_group()
    before = group._get_sequence_number_for_group()
    steps()
    return group._get_sequence_number_for_group() - before


def run(rank: int, store_path: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", store=dist.FileStore(store_path, WORLD), rank=rank, world_size=WORLD)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), Poison(), nn.Linear(16, 4))
    ddp = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
    x = torch.randn(4, 8)

    def train(n: int = 2) -> None:
        for _ in range(n):
            optimizer.zero_grad()
            ddp(x).sum().backward()
            optimizer.step()

    result: dict[str, Any] = {}
    train(2)  # DDP communicates more in its first steps (bucket rebuilding): keep them out
    initial = copy.deepcopy(model.state_dict())
    result["collectives_plain"] = _collectives(train)
    san = dlsan.instrument(ddp, optimizer=optimizer, on_error="record")
    result["collectives_watched"] = _collectives(train)
    result["names"] = [name for name, _ in san.named_modules()]
    result["sanitizer_rank"] = san.rank
    model[2].armed = rank == POISONED_RANK
    train(1)
    result["findings"] = [finding.to_dict() for finding in san.findings]
    san.remove()

    model.load_state_dict(initial)  # the NaN reached every rank's weights through the all-reduce
    model[2].armed = rank == POISONED_RANK
    with dlsan.instrument(ddp), torch.no_grad():  # raise mode; no_grad: DDP runs no collective
        try:
            ddp(x)
            result["error"] = None
        except dlsan.NonFiniteError as error:
            result["error"] = {"rank": error.rank, "module": error.module, "message": str(error)}
    dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    run(int(sys.argv[1]), sys.argv[2], sys.argv[3])
