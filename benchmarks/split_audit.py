"""Time and memory of ``dlsan.audit_split`` on a million small examples, by kind of split.

Each case runs in its own process: it builds 900,000 training and 100,000 test examples of 16
float32 features (64 bytes each) with 50 planted duplicates, labels, groups and timestamps, then
audits them with every check on.  Printed side by side per case: the audit's wall time, the peak
of the memory it allocated itself (``tracemalloc``, which sees Python and NumPy but not torch
allocations) and the growth of the process's peak resident memory during the audit (which sees
everything, the data's own copies included).  The target is "a few hundred MB" at most.

    python benchmarks/split_audit.py            # every case
    python benchmarks/split_audit.py numpy      # one case: numpy, tensor, tuple, dataframe, dataset
"""

from __future__ import annotations

import importlib
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from typing import Any

import numpy as np

TRAIN, TEST, FEATURES, PLANTED = 900_000, 100_000, 16, 50
CASES = ("numpy", "tensor", "tuple", "dataframe", "tensordataset", "dataset")


def _data(kind: str) -> tuple[Any, Any, dict[str, Any]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(TRAIN + TEST, FEATURES)).astype(np.float32)
    x[TRAIN : TRAIN + PLANTED] = x[:PLANTED]
    labels = rng.integers(0, 10, TRAIN + TEST)
    groups = np.arange(TRAIN + TEST) // 20
    times = np.arange(TRAIN + TEST)
    train, test = slice(0, TRAIN), slice(TRAIN, None)
    if kind == "numpy":
        keys = {"labels": (labels[train], labels[test]), "groups": (groups[train], groups[test]),
                "time": (times[train], times[test])}
        return x[train], x[test], keys
    import torch

    if kind == "tensor":
        t = torch.from_numpy(x)
        keys = {"labels": (labels[train], labels[test]), "groups": (groups[train], groups[test]),
                "time": (times[train], times[test])}
        return t[train], t[test], keys
    if kind == "tuple":
        return ((x[train], labels[train], groups[train], times[train]),
                (x[test], labels[test], groups[test], times[test]), {"labels": 1, "groups": 2, "time": 3})
    if kind == "dataframe":
        pd: Any = importlib.import_module("pandas")  # untyped; only this case needs it
        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(FEATURES)])
        frame["label"], frame["user"], frame["at"] = labels, groups, times
        return frame.iloc[train], frame.iloc[test], {"labels": "label", "groups": "user", "time": "at"}
    if kind == "tensordataset":
        from torch.utils.data import TensorDataset

        tensors = [torch.from_numpy(x), torch.from_numpy(labels), torch.from_numpy(groups), torch.from_numpy(times)]
        return (TensorDataset(*(t[train] for t in tensors)), TensorDataset(*(t[test] for t in tensors)),
                {"labels": 1, "groups": 2, "time": 3})
    if kind == "dataset":
        return (_Items(x[train], labels[train], groups[train], times[train]),
                _Items(x[test], labels[test], groups[test], times[test]), {"labels": "label", "groups": "user", "time": "at"})
    raise SystemExit(f"unknown case {kind!r}; cases: {', '.join(CASES)}")


class _Items:
    """A map-style Dataset as users write them: one dict per item, built in ``__getitem__``."""

    def __init__(self, x: np.ndarray, labels: np.ndarray, groups: np.ndarray, times: np.ndarray) -> None:
        import torch

        self.x, self.labels, self.groups, self.times = torch.from_numpy(x), labels, groups, times

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"x": self.x[index], "label": int(self.labels[index]), "user": int(self.groups[index]),
                "at": int(self.times[index])}


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _measure(kind: str) -> dict[str, Any]:
    import dlsan

    audit = dlsan.audit_split  # imports torch, outside the timing
    train, test, keys = _data(kind)
    before = _rss_mb()
    tracemalloc.start()
    start = time.perf_counter()
    report = audit(train, test, **keys)
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found = report["duplicates"].details["across"][0]["count"]
    assert found == PLANTED, found
    return {"case": kind, "seconds": seconds, "traced_mb": traced, "rss_growth_mb": max(peak - before, 0.0),
            "duplicates_found": found}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        print(json.dumps(_measure(argv[1])))
        return
    cases = argv or list(CASES)
    print(f"audit_split on {TRAIN:,} train + {TEST:,} test examples of {FEATURES} float32 "
          "(labels, groups, time given; tracemalloc timing overhead included)")
    print(f"{'case':<14} {'time (s)':>9} {'traced peak (MB)':>17} {'RSS growth (MB)':>16} {'duplicates':>11}")
    for kind in cases:
        out = subprocess.run([sys.executable, __file__, "--child", kind], check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{row['case']:<14} {row['seconds']:>9.2f} {row['traced_mb']:>17.1f} {row['rss_growth_mb']:>16.1f} "
              f"{row['duplicates_found']:>11}")


if __name__ == "__main__":
    main(sys.argv[1:])
