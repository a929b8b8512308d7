"""The same guarantees on a GPU: localisation, no synchronisation inside hooks (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch

import dlsan
from dlsan.runtime import NonFiniteError

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_first_bad_layer_on_cuda(toys):
    model = toys.Nested(toys.Explode()).cuda()
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(torch.randn(6, 8, device="cuda"))
    assert info.value.module == "blocks.1.inner.1"


def test_backward_culprit_on_cuda(toys):
    model = toys.mlp(toys.SqrtOfZero()).cuda()
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(torch.randn(6, 8, device="cuda")).sum().backward()
    assert (info.value.module, info.value.phase) == ("2", "backward")


def test_hooks_do_not_synchronise_the_device(toys):
    model = toys.Nested().cuda()
    x = torch.randn(6, 8, device="cuda")
    with dlsan.instrument(model, every=1000) as san:
        model(x).sum().backward()  # warm-up: lazy CUDA initialisation may synchronise
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(3):
                model(x).sum().backward()
        finally:
            torch.cuda.set_sync_debug_mode("default")
        san.check()
    assert not san.findings


def test_training_is_bitwise_identical_on_cuda(toys):
    def run(instrumented: bool):
        torch.manual_seed(3)
        model = toys.DropoutNet().cuda()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(8, 3, 8, 8, device="cuda"), torch.randint(0, 3, (8,), device="cuda")
        san = dlsan.instrument(model, optimizer=optimizer) if instrumented else None
        for _ in range(3):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        if san is not None:
            san.remove()
        return [p.detach().cpu() for p in model.parameters()], torch.cuda.get_rng_state()

    plain, watched = run(False), run(True)
    assert all(torch.equal(a, b) for a, b in zip(plain[0], watched[0]))
    assert torch.equal(plain[1], watched[1])
