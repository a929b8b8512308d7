"""pytest plugin (entry point ``pytest11``): ``pytest --dlsan`` runs every test's models under dlsan.

Each model a test calls is instrumented for that test (see
:mod:`dlsan.integrations.autoinstrument`), so a NaN/Inf fails the test with
:class:`dlsan.NonFiniteError`, naming the layer where it first appeared; hooks are removed and
``nn.Module.__call__`` restored after each test.  Without ``--dlsan`` the plugin only adds its
options: it never imports torch, so it costs nothing in test suites that do not use it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

DEFAULT_CHECKS = "nonfinite"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dlsan", "dlsan runtime sanitizer")
    group.addoption(
        "--dlsan",
        action="store_true",
        default=False,
        help="instrument every torch.nn.Module a test calls: a NaN/Inf fails the test, naming the layer",
    )
    group.addoption(
        "--dlsan-checks",
        default=DEFAULT_CHECKS,
        metavar="NAMES",
        help=f"comma-separated dlsan checks to run under --dlsan (default: {DEFAULT_CHECKS}; "
        "the training-health checks need many steps, which unit tests rarely run)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("dlsan"):
        checks = [name.strip() for name in config.getoption("dlsan_checks").split(",") if name.strip()]
        config.pluginmanager.register(_Watch(checks), "dlsan-watch")


class _Watch:
    """Registered only under ``--dlsan``: wraps each test's call phase."""

    def __init__(self, checks: list[str]) -> None:
        from dlsan.runtime.probe import probe_classes

        unknown = sorted(set(checks) - set(probe_classes()))
        if unknown:
            raise pytest.UsageError(f"--dlsan-checks: unknown check(s) {', '.join(unknown)}")
        self.checks = checks

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, None]:
        from dlsan.integrations.autoinstrument import AutoInstrument

        with AutoInstrument(checks=self.checks):
            yield
