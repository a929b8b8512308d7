"""A fixture may say which PyTorch version it targets, on a line of its own:

    # target-torch-version: 2.4

(rules whose advice depends on it, such as DLS602, then follow that version; default 2.6)."""

from __future__ import annotations

import re

from dlsan.torch_target import DEFAULT

_TARGET = re.compile(r"^# target-torch-version: (?P<version>\S+)$", re.MULTILINE)


def target_torch_version(source: str) -> str:
    match = _TARGET.search(source)
    return match.group("version") if match else DEFAULT
