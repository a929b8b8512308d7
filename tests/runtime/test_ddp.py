"""``instrument`` on a ``DistributedDataParallel`` model: two CPU ranks over gloo (see ``ddp_worker.py``).

One run of the two processes feeds every test here; a NaN is planted on rank 1 only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist
from gloo_ranks import run_two_ranks

WORKER = Path(__file__).with_name("ddp_worker.py")

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed with gloo"
)


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return run_two_ranks(WORKER, tmp_path_factory.mktemp("ddp"), timeout=60)


def test_module_names_are_the_models_own_without_the_ddp_prefix(ranks: list[dict[str, Any]]) -> None:
    for result in ranks:
        assert result["names"] == ["", "0", "1", "2", "3"]


def test_the_sanitizer_knows_its_rank(ranks: list[dict[str, Any]]) -> None:
    assert [result["sanitizer_rank"] for result in ranks] == [0, 1]


def test_a_nan_on_one_rank_names_that_rank_and_the_layer(ranks: list[dict[str, Any]]) -> None:
    forward = [f for f in ranks[1]["findings"] if f["kind"] == "nonfinite" and f["phase"] == "forward"]
    assert [(f["module"], f["rank"]) for f in forward] == [("2", 1)]
    assert forward[0]["message"].startswith("[rank 1] ") and "'2' (Poison)" in forward[0]["message"]
    # rank 0 computed its own forward cleanly: it must not claim the layer went NaN there
    assert not [f for f in ranks[0]["findings"] if f["phase"] == "forward"]
    assert all(f["rank"] == 0 for f in ranks[0]["findings"])


def test_raise_mode_error_carries_the_rank(ranks: list[dict[str, Any]]) -> None:
    assert ranks[0]["error"] is None
    error = ranks[1]["error"]
    assert (error["rank"], error["module"]) == (1, "2")
    assert error["message"].startswith("[rank 1] ")


def test_dlsan_adds_no_collective_communication(ranks: list[dict[str, Any]]) -> None:
    for result in ranks:
        assert result["collectives_plain"] > 0  # the counter does see DDP's gradient all-reduces
        assert result["collectives_watched"] == result["collectives_plain"]
