"""One rank of a two-process gloo run for ``test_zoo_distributed.py``: DDP, FSDP1 (flat and original
parameters) and FSDP2 (``fully_shard``), each trained instrumented (every probe on) next to an
uninstrumented copy.

``python dist_zoo_worker.py RANK STORE_FILE OUT_DIR`` runs every setup in turn (one process start
for all) and writes ``rank<N>.json``: per setup, the module names the sanitizer sees, its findings,
whether outputs and weights stayed bitwise equal to the plain copy's, and the findings of a second
run whose ``aux`` head is never used.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import dlsan
from dlsan.runtime.probe import probe_classes

WORLD = 2
STEPS = 8
SETUPS = ("ddp", "fsdp1", "fsdp1-orig", "fsdp2")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh())
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, 4)
        self.aux = nn.Linear(32, 2)  # used unless the run plants an unused head

    def forward(self, x: torch.Tensor, use_aux: bool = True) -> torch.Tensor:
        hidden = self.norm(self.encoder(x))
        out = self.head(hidden)
        return out + self.aux(hidden).sum(-1, keepdim=True) if use_aux else out


def wrap(model: Net, setup: str) -> nn.Module:
    cpu = torch.device("cpu")
    if setup == "ddp":
        return nn.parallel.DistributedDataParallel(model)
    if setup.startswith("fsdp1"):
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        orig = setup == "fsdp1-orig"
        model.encoder = FSDP(model.encoder, use_orig_params=orig, device_id=cpu)  # type: ignore[assignment]
        model.aux = FSDP(model.aux, use_orig_params=orig, device_id=cpu)  # type: ignore[assignment]
        return FSDP(model, use_orig_params=orig, device_id=cpu)
    from torch.distributed.fsdp import fully_shard

    fully_shard(model.encoder)
    fully_shard(model.aux)
    fully_shard(model)
    return model


def local(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor


def train(wrapped: nn.Module, rank: int, use_aux: bool, sanitizer_options: dict[str, Any] | None) -> dict[str, Any]:
    torch.manual_seed(1 + rank)
    batches = [torch.randn(6, 8) for _ in range(STEPS)]
    optimizer = torch.optim.AdamW(wrapped.parameters(), lr=1e-2)
    san = None if sanitizer_options is None else dlsan.instrument(wrapped, optimizer=optimizer, **sanitizer_options)
    outputs = []
    for step, x in enumerate(batches):
        optimizer.zero_grad()
        out = wrapped(x, use_aux=use_aux)
        out.pow(2).mean().backward()
        optimizer.step()
        outputs.append(out.detach().clone())
        if step % 3 == 2:
            wrapped.eval()
            with torch.no_grad():
                outputs.append(wrapped(x, use_aux=use_aux).clone())
            wrapped.train()
    result: dict[str, Any] = {"outputs": outputs, "params": [local(p.detach()).clone() for p in wrapped.parameters()]}
    if san is not None:
        result["names"] = [name for name, _ in san.named_modules()]
        result["findings"] = [f.to_dict() for f in san.findings]
        san.remove()
    return result


def run(rank: int, store_path: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", store=dist.FileStore(store_path, WORLD), rank=rank, world_size=WORLD)
    results = {setup: run_setup(rank, setup) for setup in SETUPS}
    dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))


def run_setup(rank: int, setup: str) -> dict[str, Any]:
    every_probe = {"on_error": "record", "checks": sorted(probe_classes())}

    def fresh() -> nn.Module:
        torch.manual_seed(0)
        return wrap(Net(), setup)

    plain = train(fresh(), rank, True, None)
    watched = train(fresh(), rank, True, every_probe)
    result: dict[str, Any] = {
        "names": watched["names"],
        "findings": watched["findings"],
        "outputs_equal": all(torch.equal(a, b) for a, b in zip(plain["outputs"], watched["outputs"])),
        "params_equal": all(torch.equal(a, b) for a, b in zip(plain["params"], watched["params"])),
    }
    if setup != "ddp":  # DDP refuses unused parameters unless find_unused_parameters=True
        unused = train(fresh(), rank, False, {"on_error": "record", "checks": ["unused-parameter"]})
        result["unused_findings"] = unused["findings"]
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]), sys.argv[2], sys.argv[3])
