"""The zoo's distributed part: DDP, FSDP1 (flat and original parameters) and FSDP2 on two CPU
ranks over gloo (see ``dist_zoo_worker.py``), every probe on.  One run of the two processes covers
every setup: about 30 s on two shared cores, most of it starting the processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist
from gloo_ranks import run_two_ranks

WORKER = Path(__file__).with_name("dist_zoo_worker.py")
SETUPS = ["ddp", "fsdp1", "fsdp1-orig", "fsdp2"]
Ranks = list[dict[str, Any]]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()), reason="needs gloo"),
]


@pytest.fixture(scope="module")
def every_setup(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Ranks]]:
    return run_two_ranks(WORKER, tmp_path_factory.mktemp("zoo"), timeout=300)


@pytest.fixture(params=SETUPS)
def ranks(request: pytest.FixtureRequest, every_setup: list[dict[str, Ranks]]) -> tuple[str, Ranks]:
    return request.param, [result[request.param] for result in every_setup]


def test_healthy_training_has_no_finding_and_the_same_bits(ranks: tuple[str, Ranks]) -> None:
    setup, results = ranks
    for rank, result in enumerate(results):
        assert result["findings"] == [], (setup, rank)
        assert result["outputs_equal"] and result["params_equal"], (setup, rank)


def test_module_names_are_the_users_own(ranks: tuple[str, Ranks]) -> None:
    _, results = ranks
    for result in results:
        assert set(result["names"]) == {"", "encoder", "encoder.0", "encoder.1", "encoder.2", "encoder.3", "norm", "head", "aux"}


def test_an_unused_head_is_reported_by_its_parameter_names_on_a_rank_that_holds_it(
    ranks: tuple[str, Ranks],
) -> None:
    setup, results = ranks
    if setup == "ddp":
        pytest.skip("DDP refuses unused parameters unless find_unused_parameters=True")
    reported = [set(f["details"]["parameters"]) for result in results for f in result["unused_findings"]]
    for names in reported:
        assert names <= {"aux.weight, aux.bias", "aux.weight", "aux.bias"}, (setup, names)
    assert set().union(*reported) & {"aux.weight, aux.bias", "aux.weight"}, setup
    for result in results:  # never another rank's shard of a used parameter
        assert all(f["module"] == "aux" for f in result["unused_findings"]), setup
