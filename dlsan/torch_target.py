"""Which PyTorch version the checked code targets (``target-torch-version``).

Some advice depends on it: ``torch.load`` defaults to ``weights_only=True`` from PyTorch 2.6 on,
so DLS602 flags a missing ``weights_only=`` below 2.6 and an explicit ``weights_only=False`` from
2.6.  The version comes, first match wins, from ``--target-torch-version``, from
``[tool.dlsan] target-torch-version``, from what the checked project declares for ``torch`` (the
lowest version its ``pyproject.toml`` or ``requirements*.txt`` allows), else :data:`DEFAULT`.

Reading a project's pin never fails: an unreadable or unparsable file, or a requirement without a
lower bound (``torch``, ``torch<3``), simply declares nothing.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: the version assumed when nothing says otherwise: the first with ``weights_only=True`` by default
DEFAULT = "2.6"
#: the rule option through which a rule receives the resolved version
OPTION = "target-torch-version"

_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")
#: ``torch==2.4.1``, ``torch >= 2.1,<3``, ``torch~=2.3``, ``torch[cuda]>=2.2; python_version>'3.8'``
_REQUIREMENT = re.compile(r"^\s*torch\s*(\[[^\]]*\])?\s*(?P<specs>[^;#]*)", re.IGNORECASE)
_LOWER_BOUND = re.compile(r"(==|>=|~=|===|>)\s*v?(?P<version>\d+(\.\d+)*)")


def parse_version(text: str) -> tuple[int, int]:
    """``(2, 6)`` for ``"2.6"`` or ``"2.6.1"``; raises ValueError for anything else."""
    if not _VERSION.match(text.strip()):
        raise ValueError(f"{text!r} is not a version such as 2.6")
    major, minor = text.strip().split(".")[:2]
    return int(major), int(minor)


def is_valid(text: object) -> bool:
    return isinstance(text, str) and bool(_VERSION.match(text.strip()))


def requirement_minimum(line: str) -> str | None:
    """The lowest torch version a requirement line allows (``"2.1"`` for ``torch>=2.1,<3``), or
    ``None`` when the line is not about torch or sets no lower bound."""
    match = _REQUIREMENT.match(line)
    if match is None:
        return None
    specs = match.group("specs").strip()
    if specs and specs[0] not in "=<>~!(":  # "torchvision>=0.15", "torch-directml": another package
        return None
    bounds = [m.group("version") for m in _LOWER_BOUND.finditer(specs)]
    if not bounds:
        return None
    parts = min(bounds, key=lambda v: tuple(int(p) for p in v.split("."))).split(".")
    return ".".join((parts + ["0"])[:2])


def _lowest(versions: Iterable[str | None]) -> str | None:
    found = [v for v in versions if v is not None]
    return min(found, key=parse_version) if found else None


def _pyproject_requirements(path: Path) -> list[str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return []
    project = data.get("project", {})
    lines: list[str] = []
    if isinstance(project, dict):
        lines += [d for d in project.get("dependencies", []) if isinstance(d, str)]
        extras = project.get("optional-dependencies", {})
        if isinstance(extras, dict):
            lines += [d for group in extras.values() if isinstance(group, list) for d in group if isinstance(d, str)]
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    if isinstance(poetry, dict) and "torch" in poetry:
        spec = poetry["torch"]
        spec = spec.get("version", "") if isinstance(spec, dict) else spec
        if isinstance(spec, str):
            lines.append("torch" + (">=" + spec.lstrip("^~") if spec[:1] in "^~" or spec[:1].isdigit() else spec))
    return lines


def declared_version(directory: Path) -> str | None:
    """The lowest torch version that the project in ``directory`` declares, if it declares one."""
    lines = _pyproject_requirements(directory / "pyproject.toml")
    for requirements in sorted(directory.glob("requirements*.txt")):
        try:
            lines += requirements.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError):
            continue
    return _lowest(requirement_minimum(line) for line in lines)


def project_directory(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` with a ``pyproject.toml`` or a requirements file."""
    start = start.resolve()
    for directory in [start, *start.parents] if start.is_dir() else start.parents:
        if (directory / "pyproject.toml").is_file() or any(directory.glob("requirements*.txt")):
            return directory
    return None


def from_environment() -> str | None:
    """``DLSAN_TARGET_TORCH_VERSION`` when it holds a valid version (it overrides the config)."""
    value = os.environ.get("DLSAN_TARGET_TORCH_VERSION", "").strip()
    return value if is_valid(value) else None


def resolve(flag: str | None, configured: str | None, start: Path) -> str:
    """The target version: the CLI flag, else ``DLSAN_TARGET_TORCH_VERSION``, else the config, else
    the project's pin, else DEFAULT."""
    if flag is not None:
        return flag
    from_env = from_environment()
    if from_env is not None:
        return from_env
    if configured is not None:
        return configured
    project = project_directory(start)
    declared = declared_version(project) if project is not None else None
    return declared or DEFAULT
