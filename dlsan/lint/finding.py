"""What the linter reports: findings, and the fixes attached to them.

Lines and columns are 1-based; ``end_column`` points just past the last character (the SARIF
convention), so a one-character node at column 5 has ``end_column`` 6.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Applicability = Literal["safe", "unsafe"]


@dataclass(frozen=True)
class Edit:
    """Replace the text between two positions with ``content``."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "location": {"line": self.line, "column": self.column},
            "end_location": {"line": self.end_line, "column": self.end_column},
        }


@dataclass(frozen=True)
class Fix:
    """A set of edits that together repair one finding."""

    message: str
    applicability: Applicability
    edits: tuple[Edit, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "applicability": self.applicability,
            "edits": [edit.to_dict() for edit in self.edits],
        }


@dataclass(frozen=True, order=True)
class LintFinding:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    name: str
    message: str
    fix: Fix | None = field(default=None, compare=False)
    #: for notebooks, the cell (1-based position among all cells); line and columns are then in the cell
    cell: int | None = None

    def to_dict(self) -> dict[str, Any]:
        where: dict[str, Any] = {"path": self.path} if self.cell is None else {"path": self.path, "cell": self.cell}
        return {
            **where,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "fix": self.fix.to_dict() if self.fix is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LintFinding:
        fix_data = data.get("fix")
        fix = None
        if fix_data is not None:
            fix = Fix(
                message=fix_data["message"],
                applicability=fix_data["applicability"],
                edits=tuple(
                    Edit(
                        line=e["location"]["line"],
                        column=e["location"]["column"],
                        end_line=e["end_location"]["line"],
                        end_column=e["end_location"]["column"],
                        content=e["content"],
                    )
                    for e in fix_data["edits"]
                ),
            )
        return cls(
            path=data["path"],
            line=data["line"],
            column=data["column"],
            end_line=data["end_line"],
            end_column=data["end_column"],
            code=data["code"],
            name=data["name"],
            message=data["message"],
            fix=fix,
            cell=data.get("cell"),
        )


PARSE_ERROR_CODE = "DLS000"
PARSE_ERROR_NAME = "parse-error"
