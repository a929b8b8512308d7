"""The code the engine reports itself rather than a rule class: ``DLS000``, documented like a rule
(``dlsan rules``, ``dlsan explain DLS000``) from this one place."""

from __future__ import annotations

from dataclasses import dataclass

from dlsan.lint.finding import PARSE_ERROR_CODE, PARSE_ERROR_NAME


@dataclass(frozen=True)
class EngineCode:
    code: str
    name: str
    summary: str
    documentation: str

    def docs(self) -> str:
        return self.documentation.strip()


PARSE_ERROR = EngineCode(
    code=PARSE_ERROR_CODE,
    name=PARSE_ERROR_NAME,
    summary="A file that could not be read or parsed as Python at the target version; no rule ran on it.",
    documentation="""
## What it does
Reports a file dlsan could not check: a path that does not exist or cannot be read, bytes that are
not UTF-8, source that libcst cannot parse, syntax newer than the target version (`match` with
`target-version = "py39"`), or code nested too deeply to analyse.  A rule that crashes on a file
is reported under this code too ("Internal error"), while the other rules' findings stand.

## Why is this bad?
No rule ran on the file (or not every rule did), so its bugs go unreported.  A file that does not
parse at the project's oldest Python also fails at import time there.

## Example
```python
def f(:
    pass
```

## Use instead
```python
def f():
    pass
```

It is always on; `--ignore DLS000` (or `ALL`) silences it.  Empty files are valid Python and are
not findings.  The target version is `--target-version`, else `[tool.dlsan] target-version`, else
the lower bound of `requires-python`, else the newest Python dlsan knows.
""",
)

ENGINE_CODES = (PARSE_ERROR,)
