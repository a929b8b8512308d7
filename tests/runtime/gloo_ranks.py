"""Start a worker script as two CPU ranks that rendezvous over gloo, and read what each wrote.

Separate processes keep ``torch.distributed`` state out of the test session and let a test kill a
run that hangs in a collective.  The worker is called as ``python WORKER RANK STORE_FILE OUT_DIR``
and writes ``OUT_DIR/rank<N>.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_two_ranks(worker: Path, out: Path, timeout: float) -> list[Any]:
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}  # loopback only
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), str(rank), str(out / "store"), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    try:
        logs = [proc.communicate(timeout=timeout)[0] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()  # no-op once exited; stops a rank stuck in a collective
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in range(2)]
