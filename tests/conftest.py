from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_dlsan(tmp_path_factory):
    """Run the real CLI in a subprocess: ``run_dlsan("check", path, cwd=...)``."""

    cache_dir = tmp_path_factory.mktemp("dlsan-cache")

    def run(*args: str, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dlsan", *map(str, args)],
            cwd=cwd or REPO, capture_output=True, text=True, input=input, timeout=300,
            env={**os.environ, "DLSAN_CACHE_DIR": str(cache_dir)},
        )

    return run


@pytest.fixture(scope="session")
def checkout_wheel(tmp_path_factory) -> Path:
    """A wheel of this checkout, built once for the tests that install one (a build takes ~20 s)."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = dist.glob("dlsan-*.whl")
    return wheel
