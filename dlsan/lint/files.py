"""Which files to check: Python files under the given paths, minus excluded and git-ignored ones.

Paths given explicitly are always checked (as Ruff does), unless ``force_exclude`` is set, which
pre-commit hooks use because they pass every staged file by name.  Exclude patterns are globs
matched against a path relative to the config root and against its base name.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from fnmatch import fnmatch
from pathlib import Path, PurePath

PYTHON_SUFFIXES = (".py", ".pyi", ".ipynb")
#: Jupyter's autosave copies, never linted (whatever ``exclude`` says)
CHECKPOINTS_DIR = ".ipynb_checkpoints"


def is_test_module(path: str) -> bool:
    """A pytest test module by its name (``test_*.py``, ``*_test.py``): what rules may read of a
    path, and so part of the cache key's role of the path."""
    name = PurePath(path).name
    return name.startswith("test_") or name.endswith("_test.py")


def relative_posix(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when below it (lexically: no symlink resolution, no syscall
    per file), else as given."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    return path.as_posix() if relative.startswith("..") else Path(relative).as_posix()


def _excluded(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    """Whether ``path`` itself matches a pattern (used while walking, where parents are pruned)."""
    relative = relative_posix(path, root)
    return any(fnmatch(relative, p.rstrip("/")) or fnmatch(path.name, p.rstrip("/")) for p in patterns)


def _force_excluded(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    """Whether ``path`` or one of its parents below ``root`` matches a pattern."""
    relative = Path(relative_posix(path, root))
    return any(_excluded(root / candidate, root, patterns) for candidate in [relative, *relative.parents][:-1])


def _readable_kind(path: Path) -> bool:
    """A regular file, or a dangling link (reported as unreadable); never a FIFO or a socket,
    which would block the read."""
    return path.is_file() or not path.exists()


def _walk(directory: Path, root: Path, patterns: Sequence[str]) -> list[Path]:
    found: list[Path] = []
    for current, dirnames, filenames in os.walk(directory):
        base = Path(current)
        dirnames[:] = sorted(d for d in dirnames if d != CHECKPOINTS_DIR and not _excluded(base / d, root, patterns))
        found.extend(base / name for name in sorted(filenames)
                     if name.endswith(PYTHON_SUFFIXES) and not _excluded(base / name, root, patterns)
                     and _readable_kind(base / name))
    return found


def git_ignored(paths: Sequence[Path]) -> set[Path]:
    """The subset of ``paths`` that git ignores (empty when git or a repository is missing)."""
    if not paths:
        return set()
    absolute = [os.path.abspath(p) for p in paths]
    cwd = os.path.commonpath([os.path.dirname(p) for p in absolute])
    # git answers with the paths as given; a directory is matched by its "dir/" patterns only with
    # the trailing slash, so directories are asked about as "dir/"
    try:
        result = subprocess.run(
            ["git", "check-ignore", "--stdin", "-z"],
            input="\0".join(a + ("/" if p.is_dir() else "") for a, p in zip(absolute, paths)).encode(),
            cwd=cwd, capture_output=True, timeout=60, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return set()
    if result.returncode not in (0, 1):
        return set()
    return {Path(item.rstrip("/")) for item in result.stdout.decode(errors="replace").split("\0") if item}


def collect_files(
    paths: Iterable[Path], root: Path, exclude: Sequence[str], *, force_exclude: bool = False
) -> list[Path]:
    """The files to check, each once, in a stable order.

    Files found by walking a directory are dropped when git ignores them, unless the directory
    given is itself ignored (``dlsan check .venv/lib/.../torch`` means it).
    """
    kept: list[Path] = []
    for path in paths:
        if force_exclude and _force_excluded(path, root, exclude):
            continue
        if not path.is_dir():
            kept.append(path)
            continue
        found = _walk(path, root, exclude)
        if Path(os.path.abspath(path)) in git_ignored([path]):
            kept.extend(found)
        else:
            ignored = git_ignored(found)
            kept.extend(p for p in found if Path(os.path.abspath(p)) not in ignored)
    return list(dict.fromkeys(kept))
