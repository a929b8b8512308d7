"""What lint rules and runtime checks share: a stable code, a name, and docs in fixed sections.

One doc source per code feeds ``dlsan explain``, ``dlsan rules``, the README table and SARIF
``fullDescription``, whether the code belongs to a lint rule (``dlsan.lint.rule.Rule``) or to a
runtime finding kind (``dlsan.runtime.codes``).  Nothing here imports libcst or torch.
"""

from __future__ import annotations

import textwrap
from typing import ClassVar


class Documented:
    """A code documented by its class docstring (``## What it does``, ``## Why is this bad?`` ...)."""

    code: ClassVar[str]
    name: ClassVar[str]
    message: ClassVar[str]
    default_enabled: ClassVar[bool] = True

    @classmethod
    def fixable(cls) -> bool:
        return False

    @classmethod
    def docs(cls) -> str:
        return textwrap.dedent(cls.__doc__ or "").strip()

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        """The docstring's ``## Section`` blocks, by title."""
        sections: dict[str, str] = {}
        current: str | None = None
        lines: list[str] = []
        for line in cls.docs().splitlines():
            if line.startswith("## "):
                if current is not None:
                    sections[current] = "\n".join(lines).strip()
                current, lines = line[3:].strip(), []
            elif current is not None:
                lines.append(line)
        if current is not None:
            sections[current] = "\n".join(lines).strip()
        return sections

    @classmethod
    def summary(cls) -> str:
        """One sentence: the first paragraph of "What it does"."""
        what = cls.doc_sections().get("What it does", "")
        return " ".join(what.split("\n\n", 1)[0].split())
