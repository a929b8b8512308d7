"""``dlsan run SCRIPT [ARGS...]``: run a training script unchanged, every model instrumented.

The script runs in this process as ``__main__`` (``sys.argv`` is ``[SCRIPT, *ARGS]``, its
directory first on ``sys.path``), under :class:`~dlsan.integrations.autoinstrument.AutoInstrument`
as ``pytest --dlsan`` does: each model is instrumented at its first call.  Optimizers and loss
scalers are found as they are created; a model gets those whose parameters it holds, so steps
are counted and gradients judged as with ``instrument(model, optimizer=..., scaler=...)``.

At the end, or when the script fails (a :class:`~dlsan.NonFiniteError` in ``raise`` mode, or its
own error, whose traceback is printed as Python would), the findings of every model are printed
in a lint format (``--format text|json|sarif|github``, ``-o FILE``).  Exit status as ``dlsan
check``: 0 no findings, 1 findings, 2 the script could not run or failed on its own.

Under ``torchrun`` every process runs its own copy: findings carry the rank, and ``-o FILE`` is
written per rank (``runtime.sarif`` becomes ``runtime.rank1.sarif`` on rank 1; rank 0 keeps the
name), since dlsan never communicates between ranks.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
import warnings
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlsan.integrations.autoinstrument import AutoInstrument
from dlsan.report import HUMAN, RENDERERS, RenderContext
from dlsan.runtime.codes import RUNTIME_CODES
from dlsan.runtime.findings import Finding, SanitizerError, SanitizerWarning

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Trainers:
    """Every optimizer and loss scaler created while the script runs (held weakly)."""

    def __init__(self) -> None:
        self.optimizers: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()
        self.scalers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._patched: list[tuple[type, Any]] = []

    def __enter__(self) -> _Trainers:
        self._wrap(torch.optim.Optimizer, self.optimizers)
        self._wrap(torch.amp.GradScaler, self.scalers)
        return self

    def __exit__(self, *exc: object) -> None:
        for cls, original in reversed(self._patched):
            cls.__init__ = original
        self._patched.clear()

    def _wrap(self, cls: type, found: weakref.WeakSet[Any]) -> None:
        original = cls.__dict__["__init__"]

        def __init__(obj: Any, *args: Any, **kwargs: Any) -> None:
            original(obj, *args, **kwargs)
            found.add(obj)

        self._patched.append((cls, original))
        cls.__init__ = __init__  # type: ignore[misc]  # the class's own __init__, restored by __exit__

    def options_for(self, model: nn.Module) -> dict[str, Any]:
        """The optimizer (and scaler) that trains ``model``: the first whose parameters it holds."""
        params = {id(p) for p in model.parameters()}
        for optimizer in list(self.optimizers):
            if any(id(p) in params for group in optimizer.param_groups for p in group["params"]):
                scaler = next(iter(self.scalers), None)
                return {"optimizer": optimizer, "scaler": scaler}
        return {}


def run_script(
    script: Path,
    args: Sequence[str],
    *,
    output_format: str = "text",
    output: Path | None = None,
    checks: Sequence[str] | None = None,
    on_error: str = "raise",
) -> int:
    """Run ``script`` with ``args`` instrumented; print the findings; return the exit status."""
    if not script.is_file():
        print(f"dlsan: error: script {str(script)!r} does not exist", file=sys.stderr)
        return EXIT_ERROR
    failed = False
    findings: list[Finding] = []
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(script.resolve().parent))
    trainers = _Trainers()
    options: dict[str, Any] = {"on_error": on_error}
    if checks is not None:
        options["checks"] = list(checks)
    watcher = AutoInstrument(trainers.options_for, **options)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SanitizerWarning)  # every finding is printed at the end
            with trainers, watcher:
                try:
                    runpy.run_path(str(script), run_name="__main__")
                finally:
                    findings = _findings(watcher)
    except SystemExit as stop:
        failed = stop.code not in (None, 0)
    except SanitizerError:
        traceback.print_exc()
    except Exception:
        traceback.print_exc()
        failed = True
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    _write(findings, output_format, output)
    if findings:
        return EXIT_FINDINGS
    return EXIT_ERROR if failed else EXIT_CLEAN


def _findings(watcher: AutoInstrument) -> list[Finding]:
    found: list[Finding] = []
    for san in [*watcher.retired, *watcher.sanitizers]:
        found.extend(san.findings)
    return found


def _write(findings: Sequence[Finding], output_format: str, output: Path | None) -> None:
    context = RenderContext(rules=RUNTIME_CODES)  # type: ignore[arg-type]  # documented like rules
    text = RENDERERS[output_format]([finding.to_lint_finding() for finding in findings], context)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        rank_path(output).write_text(text, encoding="utf-8")
    if output_format in HUMAN or output is not None:
        count = len(findings)
        print(f"dlsan: {count or 'no'} runtime finding{'s' if count != 1 else ''}.", file=sys.stderr)


def rank_path(path: Path) -> Path:
    """``path`` for this process: ``name.rank<N>.suffix`` on rank N > 0 of a torchrun job."""
    rank = os.environ.get("RANK", "0")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and rank not in ("", "0"):
        return path.with_name(f"{path.stem}.rank{rank}{path.suffix}")
    return path
