"""dlsan's rules as a flake8 plugin: existing flake8 setups get the ``DLS`` codes.

Registered under the ``flake8.extension`` entry point group with the code prefix ``DLS``.  flake8
hands every plugin the ``ast`` tree; dlsan ignores it and lints the file's ``lines`` itself (one
libcst parse, the same engine as ``dlsan check``), so findings are identical to the CLI's.

Which rules run is decided as for ``dlsan check`` on that file: the nearest ``[tool.dlsan]``
(``select``, ``ignore``, ``extend-select``, ``per-file-ignores``, ``rule-options``, ``rule-dirs``).
flake8's own ``--select``/``--ignore``/``--per-file-ignores`` and ``# noqa`` then filter the codes
as for any plugin.  A file flake8 cannot parse never reaches plugins (flake8 reports ``E999``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from pathlib import Path

from dlsan.__about__ import __version__
from dlsan.config import ConfigError
from dlsan.lint.api import prepare
from dlsan.lint.engine import RuleSelection, lint_source
from dlsan.lint.finding import PARSE_ERROR_CODE
from dlsan.lint.runner import Linter

#: flake8's result tuple: line (1-based), column (0-based), "CODE message", the plugin class
Flake8Result = tuple[int, int, str, type]


class DlsanChecker:
    """The flake8 entry point (a "tree" plugin, since flake8 only runs plugins that take a tree)."""

    name = "dlsan"
    version = __version__

    #: per-directory linter (its rules and per-file ignores), shared by every file of a flake8 run
    _linters: dict[Path, Linter | ConfigError] = {}

    def __init__(self, tree: ast.AST, lines: Sequence[str], filename: str) -> None:
        del tree  # dlsan parses with libcst itself
        self.lines = lines
        self.filename = filename

    def run(self) -> Iterator[Flake8Result]:
        path = Path(self.filename)
        linter = self._linter_for(path)
        if isinstance(linter, ConfigError):
            yield 1, 0, f"{PARSE_ERROR_CODE} dlsan configuration error: {linter}", type(self)
            return
        selection: RuleSelection = linter.selection_for(path)
        for finding in lint_source(self.filename, "".join(self.lines), selection):
            yield finding.line, max(finding.column - 1, 0), f"{finding.code} {finding.message}", type(self)

    @classmethod
    def _linter_for(cls, path: Path) -> Linter | ConfigError:
        directory = path.resolve().parent
        if directory not in cls._linters:
            try:
                cls._linters[directory] = Linter(prepare([directory]).plan)
            except ConfigError as error:
                cls._linters[directory] = error
        return cls._linters[directory]
