"""``dlsan run``: a real training script, unchanged, run in a subprocess with every model instrumented."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import torch.distributed as dist

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "fixtures" / "runtime" / "train_classifier.py"
SCHEMA = json.loads((REPO / "tests" / "lint" / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m dlsan run ARGS`` (the console script runs the same ``cli``)."""
    command = [sys.executable, "-m", "dlsan", "run", *args]
    return subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)


def test_a_healthy_script_runs_unchanged_and_exits_0():
    result = _run(str(SCRIPT))
    assert result.returncode == 0, result.stderr
    assert "epoch 0: loss" in result.stdout  # the script's own output and arguments are untouched
    assert "dlsan: no runtime findings." in result.stderr


def test_a_leaking_loop_gives_sarif_that_validates(tmp_path):
    out = tmp_path / "runtime.sarif"
    result = _run("--format", "sarif", "-o", str(out), str(SCRIPT), "--leak", "--epochs", "1")
    assert result.returncode == 1, result.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft4Validator(SCHEMA).iter_errors(document))
    assert not errors, errors[:3]
    (run,) = document["runs"]
    (finding,) = run["results"]
    assert finding["ruleId"] == "DLS809"
    location = finding["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "fixtures/runtime/train_classifier.py"
    step_line = next(i for i, line in enumerate(SCRIPT.read_text().splitlines(), 1) if "optimizer.step()" in line)
    assert location["region"]["startLine"] == step_line
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert "## Why is this bad?" in rules["DLS809"]["fullDescription"]["text"]


def test_a_nan_stops_the_script_at_the_op_and_its_line():
    result = _run("--format", "json", str(SCRIPT), "--log-features")
    assert result.returncode == 1
    (finding,) = json.loads(result.stdout[result.stdout.index("["):])
    log_line = next(i for i, line in enumerate(SCRIPT.read_text().splitlines(), 1) if "torch.log(x)" in line)
    assert (finding["code"], finding["path"], finding["line"]) == ("DLS801", "fixtures/runtime/train_classifier.py", log_line)
    assert "first bad op: torch.log" in finding["message"]
    assert "NonFiniteError" in result.stderr and "x = torch.log(x)" in result.stderr  # the traceback, with the cause


def test_a_missing_script_is_a_usage_error():
    assert _run("no_such_script.py").returncode == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed with gloo")
def test_two_ranks_under_torchrun_report_each_with_its_rank(tmp_path):
    out = tmp_path / "runtime.json"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), "-m", "dlsan", "run", "--format", "json", "-o", str(out),
        str(SCRIPT), "--distributed", "--leak",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    for rank, path in enumerate([out, tmp_path / "runtime.rank1.json"]):
        (finding,) = json.loads(path.read_text(encoding="utf-8"))
        assert finding["code"] == "DLS809" and finding["message"].startswith(f"[rank {rank}] ")
