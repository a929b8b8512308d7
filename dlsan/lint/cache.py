"""A result cache keyed by file content, so an unchanged file is never parsed twice.

An entry's key hashes the file's bytes together with everything else that decides its findings:
dlsan's version, the rules that run on that file (codes and the source of their rule files),
their options, and whether DLS000 is ignored.  Paths are not part of the key (a moved file keeps
its entry); findings are stored without their path and get it back on the way out.

One JSON file per run configuration lives under the user cache directory (``DLSAN_CACHE_DIR``,
else ``$XDG_CACHE_HOME/dlsan``, else ``~/.cache/dlsan``).  It is replaced atomically, so two runs
writing at once leave one complete file; an unreadable or corrupt file is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsan.__about__ import __version__
from dlsan.lint.finding import LintFinding

#: entries kept at most; those of files seen in the latest run are kept first
MAX_ENTRIES = 100_000
_FORMAT = 1


def default_cache_dir() -> Path:
    explicit = os.environ.get("DLSAN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dlsan"


def rules_fingerprint(rule_dirs: Sequence[Path]) -> str:
    """Changes whenever a rule file (built-in or project-local) changes."""
    digest = hashlib.sha256()
    for directory in rule_dirs:
        for path in sorted(Path(directory).glob("*.py")):
            stat = path.stat()
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def _dependencies_unchanged(dependencies: Any) -> bool:
    from dlsan.lint.semantic.project import digest_of

    return isinstance(dependencies, dict) and all(digest_of(path) == digest for path, digest in dependencies.items())


class ResultCache:
    def __init__(self, directory: Path, run_key: str) -> None:
        self.path = directory / f"results-{hashlib.sha256(run_key.encode()).hexdigest()[:24]}.json"
        self._run_key = f"{_FORMAT}:{__version__}:{run_key}"
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
    def file_key(content: bytes, selection_key: str) -> str:
        return hashlib.sha256(selection_key.encode() + b"\0" + content).hexdigest()

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
            self.path.parent.mkdir(parents=True, exist_ok=True)
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
