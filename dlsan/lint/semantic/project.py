"""The project index: the project's own modules, so that an import of one resolves to its code.

``from rl.agent import PPOAgent`` in ``examples/rl/train.py`` names ``examples/rl/rl/agent.py``;
``import clip`` in ``CLIP/tests/test_x.py`` names ``CLIP/clip/__init__.py``.  A module is looked
up in the importing file's directory and its ancestors (never above the working directory when
the file is below it), as Python finds the project's packages when a script or the tests run.

Each project file is parsed once per process and kept, by path and content, in a small LRU, so a
dependency that changes is re-read.  The files a lint consulted are recorded on the importing
file's context (:attr:`ProjectFile.digest`), for result caches that must invalidate on them.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from dlsan.lint.catalog.frameworks import framework_of
from dlsan.lint.context import FileContext, file_fact
from dlsan.lint.names import OWN_MODULE

#: project files kept parsed at once (per process)
_MAX_FILES = 48
#: packages that are never the project's own (the frameworks, the standard library's usual names)
_EXTERNAL = frozenset({
    "torch", "torchvision", "torchaudio", "numpy", "pandas", "sklearn", "tensorflow", "keras", "jax",
    "mxnet", "os", "sys", "re", "math", "json", "time", "random", "collections", "typing", "pathlib",
    "argparse", "logging", "functools", "itertools", "copy", "dataclasses", "abc", "enum",
})


@dataclass
class ProjectFile:
    """A parsed project module, with its own context (so its own facts, values, summaries)."""

    path: Path
    digest: str
    context: FileContext


_files: OrderedDict[tuple[str, str], ProjectFile | None] = OrderedDict()
#: linted path -> the project files (path -> content digest) its findings depend on
_dependencies: dict[str, dict[str, str]] = {}


def dependencies_of(path: str) -> dict[str, str]:
    """The project files whose code decided findings of the file linted as ``path`` (this process)."""
    return dict(_dependencies.get(path, {}))


def digest_of(path: str) -> str | None:
    """The content digest :func:`dependencies_of` records, for checking a dependency is unchanged."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def module_file(importer: str, module: str) -> Path | None:
    """The file that defines ``module`` (dotted; ``.sibling`` relative to ``importer``'s package)
    for code in ``importer``, if the project has it."""
    if module.startswith("."):
        level = len(module) - len(module.lstrip("."))
        base = Path(importer).absolute().parent
        for _ in range(level - 1):
            base = base.parent
        rest = module.lstrip(".")
        candidate = base.joinpath(*rest.split(".")) if rest else base
        for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
            if rest and path.is_file() or not rest and path.name == "__init__.py" and path.is_file():
                return path
        return None
    if module.split(".", 1)[0] in _EXTERNAL:
        return None
    parts = module.split(".")
    for base in _search_bases(importer):
        candidate = base.joinpath(*parts)
        for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
            if path.is_file():
                return path
    return None


def _search_bases(importer: str) -> list[Path]:
    """The importing file's directory, then its ancestors up to the working directory."""
    here = Path(importer).absolute().parent
    cwd = Path.cwd()
    bases = [here]
    if here == cwd or cwd in here.parents:
        for parent in here.parents:
            bases.append(parent)
            if parent == cwd:
                break
    return bases


def load(path: Path) -> ProjectFile | None:
    """The parsed project file at ``path`` (``None`` when it cannot be read or parsed)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(data).hexdigest()
    key = (str(path), digest)
    if key in _files:
        _files.move_to_end(key)
        return _files[key]
    try:
        source = data.decode("utf-8")
        parsed: ProjectFile | None = ProjectFile(path, digest, FileContext(os.fspath(path), source,
                                                                          cst.parse_module(source)))
    except (UnicodeDecodeError, cst.ParserSyntaxError, RecursionError, ValueError):
        parsed = None
    _files[key] = parsed
    while len(_files) > _MAX_FILES:
        _files.popitem(last=False)
    return parsed


@file_fact
def imports_project_modules(context: FileContext) -> bool:
    """Whether the file may import one of the project's own modules: it imports a module that is
    relative or not a framework's (a cheap gate before :func:`resolve`, answered once per file)."""
    return any(name.startswith(".") or (framework_of(name) is None and name.split(".", 1)[0] not in _EXTERNAL)
               for name in context.names.imported())


def resolve(context: FileContext, qualified: str, importer: str | None = None) -> tuple[ProjectFile, str] | None:
    """``(file, name)`` when ``qualified`` (``rl.agent.PPOAgent``, or ``.model.Net`` written in
    ``importer``) is a top-level name of a project module; the file is recorded as a dependency
    of ``context``."""
    module, _, name = qualified.rpartition(".")
    if qualified.startswith(".") and not module.strip("."):
        module = qualified[: len(qualified) - len(qualified.lstrip("."))]
    if not module or not name:
        return None
    if module == OWN_MODULE:
        return ProjectFile(Path(context.path), "", context), name
    path = module_file(importer or context.path, module)
    if path is None:
        return None
    if os.path.abspath(path) == os.path.abspath(context.path):
        return ProjectFile(path, "", context), name  # the file names itself (``from d2l import torch as d2l``)
    loaded = load(path)
    if loaded is None:
        return None
    context.dependencies[str(path)] = loaded.digest
    _dependencies.setdefault(context.path, {})[str(path)] = loaded.digest
    return loaded, name
