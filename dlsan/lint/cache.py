"""A result cache, so an unchanged file is never parsed twice.

An entry's key covers everything a file's findings depend on:

* the file's bytes, and its *role* (:func:`path_role`: the kind and module role a path gives a
  file, such as ``__init__.py``, a stub, a test module), but not the rest of its path, so a moved
  file keeps its entry; findings are stored without their path and get it back on the way out;
* the rules that run on that file (after ``per-file-ignores``) and the *content* of every rule
  file they come from (built-in and project ``rule-dirs``), their options, the target Python
  version, whether DLS000 is ignored, and dlsan's version and engine sources
  (:func:`run_fingerprint`; a source checkout changes without a version bump).

The cache lives in the project: ``.dlsan_cache/`` next to the ``pyproject.toml`` that configures
dlsan (else in the current directory), holding a ``.gitignore`` of ``*`` and a ``CACHEDIR.TAG``;
``DLSAN_CACHE_DIR`` or ``--cache-dir`` move it, ``dlsan clean`` removes it.  Each run
configuration has one JSON file there, replaced atomically, so two runs writing at once leave one
complete file; an unreadable or corrupt file is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

from dlsan.__about__ import __version__
from dlsan.lint.files import is_test_module
from dlsan.lint.finding import LintFinding

#: entries kept at most; those of files seen in the latest run are kept first
MAX_ENTRIES = 100_000
_FORMAT = 2


CACHE_DIR_NAME = ".dlsan_cache"
_CACHEDIR_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# dlsan's result cache; `dlsan clean` removes it.\n"
_GITIGNORE = "# Created by dlsan automatically.\n*\n"
#: the only files dlsan writes into a cache directory (what ``dlsan clean`` may delete)
_OWN_FILES = ("results-*.json", "rules-*.json", ".tmp-*", ".gitignore", "CACHEDIR.TAG")


def cache_dir_for(project_root: Path, explicit: Path | None = None) -> Path:
    """``--cache-dir``, else ``DLSAN_CACHE_DIR``, else ``<project root>/.dlsan_cache``."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get("DLSAN_CACHE_DIR")
    return Path(from_env) if from_env else project_root / CACHE_DIR_NAME


def prepare_cache_dir(directory: Path) -> None:
    """Create ``directory`` with its ``.gitignore`` and ``CACHEDIR.TAG`` (raises OSError)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in ((".gitignore", _GITIGNORE), ("CACHEDIR.TAG", _CACHEDIR_TAG)):
        if not (directory / name).exists():
            (directory / name).write_text(text, encoding="utf-8")


def is_cache_dir(directory: Path) -> bool:
    try:
        return (directory / "CACHEDIR.TAG").read_text(encoding="utf-8") == _CACHEDIR_TAG
    except OSError:
        return False


def clean(directory: Path) -> int:
    """Delete what dlsan wrote in ``directory`` (and the directory once empty); returns how many
    files went.  A directory without dlsan's CACHEDIR.TAG is left alone (raises ValueError), so a
    mistyped ``--cache-dir`` never deletes someone's files."""
    if not directory.exists():
        return 0
    if not is_cache_dir(directory):
        raise ValueError(f"{directory} is not a dlsan cache directory (no dlsan CACHEDIR.TAG); not removed")
    removed = 0
    for pattern in _OWN_FILES:
        for path in directory.glob(pattern):
            path.unlink()
            removed += 1
    try:
        directory.rmdir()
    except OSError:  # something else lives there: keep it
        pass
    return removed


def path_role(path: str) -> str:
    """What a path says about its file besides its directory: the part of the path that rules and
    the engine may read (see the module docstring)."""
    name = PurePath(path).name
    suffix = PurePath(name).suffix
    role = name if name in ("__init__.py", "__main__.py", "conftest.py", "__init__.pyi", "setup.py") else ""
    if not role and is_test_module(name):
        role = "test"
    return f"{suffix}:{role}"


def _digest_files(paths: Sequence[Path], *, content: bool) -> str:
    digest = hashlib.sha256()
    for path in paths:
        try:
            if content:
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            else:
                stat = path.stat()
                digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        except OSError:
            digest.update(b"?")
        digest.update(f"{path};".encode())
    return digest.hexdigest()


def rules_fingerprint(rule_dirs: Sequence[Path]) -> str:
    """Changes whenever the content of a rule file (built-in or project-local) changes, or a
    directory is added or removed."""
    return _digest_files([p for d in rule_dirs for p in sorted(Path(d).glob("*.py"))] + list(rule_dirs),
                         content=True)


def run_fingerprint() -> str:
    """dlsan's version and the state of its engine sources (size and mtime: cheap, and an edit to
    a source checkout always changes one of them)."""
    package = Path(__file__).resolve().parent.parent
    return f"{__version__}:" + _digest_files(sorted(package.glob("lint/**/*.py")), content=False)


def _dependencies_unchanged(dependencies: Any) -> bool:
    from dlsan.lint.semantic.project import digest_of

    return isinstance(dependencies, dict) and all(digest_of(path) == digest for path, digest in dependencies.items())


class ResultCache:
    def __init__(self, directory: Path, run_key: str) -> None:
        self.path = directory / f"results-{hashlib.sha256(run_key.encode()).hexdigest()[:24]}.json"
        self._run_key = f"{_FORMAT}:{run_fingerprint()}:{run_key}"
        self._entries: dict[str, Any] = self._load()
        self._used: dict[str, Any] = {}

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("key") != self._run_key or not isinstance(data.get("entries"), dict):
            return {}
        entries: dict[str, Any] = data["entries"]
        return entries

    @staticmethod
    def file_key(content: bytes, selection_key: str, role: str) -> str:
        return hashlib.sha256(f"{selection_key}\0{role}\0".encode() + content).hexdigest()

    def get(self, key: str, path: str) -> list[LintFinding] | None:
        entry: Any = self._entries.get(key)
        stored = entry
        if isinstance(entry, dict):  # findings that depend on other project files
            if not _dependencies_unchanged(entry.get("dependencies")):
                return None
            stored = entry.get("findings")
        if not isinstance(stored, list):
            return None
        try:
            findings = [LintFinding.from_dict({**item, "path": path}) for item in stored]
        except (KeyError, TypeError):
            return None
        self._used[key] = entry
        return findings

    def put(self, key: str, findings: Sequence[LintFinding], dependencies: dict[str, str] | None = None) -> None:
        """Store ``findings``; with ``dependencies`` (path -> content digest of the project files
        they were computed from), the entry holds only while those files are unchanged."""
        stored = []
        for finding in findings:
            item = finding.to_dict()
            del item["path"]
            stored.append(item)
        self._used[key] = {"findings": stored, "dependencies": dependencies} if dependencies else stored

    def save(self) -> None:
        """Write the cache atomically; failures (read-only home, full disk) are silently skipped."""
        entries = dict(self._used)
        for key, value in self._entries.items():
            if len(entries) >= MAX_ENTRIES:
                break
            entries.setdefault(key, value)
        try:
            prepare_cache_dir(self.path.parent)
            handle = tempfile.NamedTemporaryFile("w", dir=self.path.parent, prefix=".tmp-", suffix=".json",
                                                 delete=False, encoding="utf-8")
            with handle:
                json.dump({"key": self._run_key, "entries": entries}, handle, separators=(",", ":"))
            os.replace(handle.name, self.path)
        except OSError:
            try:
                os.unlink(handle.name)
            except (OSError, UnboundLocalError):
                pass
