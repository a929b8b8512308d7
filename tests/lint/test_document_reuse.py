"""What a document's lint reuses from its last version is what a fresh lint computes.

The scopes: :class:`~dlsan.lint.semantic.scopes.ScopeReuse` takes the scopes of unchanged top-level ``def`` and
``class`` statements from the last version.  Here every version of the server's edit sequences
over the fixtures is built both ways, on the same module, and everything the model holds is
compared: each scope (kind, opener, parent), its bindings (kind, value, statement, target,
position, index), its frame's numbering, calls, reads, loops and returns, and where every node
lives and what its parent is.  The findings of the same path are compared with a fresh lint's in
tests/lint/test_incremental.py.

The comments (for the unused-suppression audit), tokenized chunk by chunk: every comment of the
whole text, where the whole text's tokenizer puts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import libcst as cst
import pytest

from dlsan.lint.api import prepare
from dlsan.lint.incremental import IncrementalParser
from dlsan.lint.reuse import DocumentReuse
from dlsan.lint.runner import Linter
from dlsan.lint.semantic.qualified import SiteNames
from dlsan.lint.semantic.scopes import FileScopes, Scope, ScopeReuse, build_scopes
from dlsan.lint.suppressions import comments
from dlsan.lint.walk import Dispatcher, Preorder, descendants, preorder, walk, walk_listed
from dlsan.server.edits import code_edit, edit_sequence
from dlsan.server.session import Session

REPO = Path(__file__).resolve().parents[2]
FIXTURES = sorted((REPO / "fixtures").glob("*.py"))


def _ids(nodes: Any) -> list[int]:
    return [id(node) for node in nodes]


def _scope(scope: Scope) -> tuple[Any, ...]:
    bindings = {name: [(b.kind, id(b.value), id(b.node), id(b.target), b.position, b.index) for b in found]
                for name, found in scope.bindings.items()}
    return (scope.kind, id(scope.node), id(scope.parent.node) if scope.parent else None, bindings,
            sorted(scope.declared_outside), scope.order, scope.ends, _ids(scope.calls),
            {name: _ids(reads) for name, reads in scope.reads.items()}, _ids(scope.loops), _ids(scope.returns),
            _ids(scope.nodes), [id(child.node) for child in scope.children])


def describe(scopes: FileScopes) -> dict[str, Any]:
    """Everything a model reads from its scopes, by node identity (both builds share the module)."""
    every: list[Scope] = []
    stack = [scopes.root]
    while stack:
        scope = stack.pop()
        every.append(scope)
        stack.extend(scope.children)
    return {
        "scopes": [_scope(scope) for scope in every],
        "scope_by_node": {key: id(scope.node) for key, scope in scopes.scope_by_node.items()},
        "scope_by_opener": {key: id(scope.node) for key, scope in scopes.scope_by_opener.items()},
        "parents": {key: id(parent) for key, parent in scopes.parents.items()},
        "imports": _ids(scopes.imports),
    }


def _versions(text: str) -> list[str]:
    return [text, *(version for _, version in edit_sequence(text)), code_edit(text, 1), text]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.name)
def test_reused_scopes_are_a_fresh_builds(path: Path) -> None:
    parser, reuse = IncrementalParser(), ScopeReuse()
    reused = defined = 0
    for version in _versions(path.read_text(encoding="utf-8")):
        parsed = parser.parse(version)
        if parsed is None:
            continue
        before = {id(part.inner) for part in reuse._parts.values()}
        incremental = build_scopes(parsed.module, reuse)
        reused += sum(id(scope) in before for scope in incremental.root.children)
        defined += sum(isinstance(statement, (cst.FunctionDef, cst.ClassDef)) for statement in parsed.module.body)
        assert describe(incremental) == describe(build_scopes(parsed.module))
    # the edit sequences leave definitions alone: their scopes were reused
    assert reused if defined else not reused


def test_a_definition_reads_the_module_binding_of_the_new_version(tmp_path: Path) -> None:
    """The reused scopes of an unchanged ``def`` resolve its free names in the new version's
    module: an import edited above it changes its finding (DLS502 needs ``F`` to be torch's)."""
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\nselect = ["ALL"]\n', encoding="utf-8")
    body = "\n\ndef loss_of(logits, y):\n    return F.cross_entropy(F.softmax(logits, dim=1), y)\n"
    torch_version = "import torch\nimport torch.nn.functional as F\n" + body
    other_version = "import torch\nimport jax.nn as F\n" + body
    session, path = Session(), str(tmp_path / "train.py")
    assert any(f.code == "DLS502" for f in session.lint(path, torch_version))
    assert not any(f.code == "DLS502" for f in session.lint(path, other_version))
    assert any(f.code == "DLS502" for f in session.lint(path, torch_version))


_LOSS = "\n\ndef loss_of(logits, y):\n    return F.cross_entropy(F.softmax(logits, dim=1), y)\n"
_LOCAL_ALIAS = ("\n\ndef loss_of(logits, y):\n    G = F\n"
                "    return G.cross_entropy(G.softmax(logits, dim=1), y)\n")


@pytest.mark.parametrize(("name", "versions"), [
    # an alias's answer is decided by the names its value reads, at any depth
    ("alias of an edited import", ["import torch.nn as nn\nF = nn.functional\n" + _LOSS,
                                   "import flax.linen as nn\nF = nn.functional\n" + _LOSS]),
    ("local alias of an edited import", ["import torch.nn.functional as F\n" + _LOCAL_ALIAS,
                                         "import jax.nn as F\n" + _LOCAL_ALIAS]),
    # a module-level read sees the bindings before it: moving a statement changes what reaches it
    ("statement moved above its import", [
        "import jax.nn as F\nimport torch.nn.functional as F\nloss = F.cross_entropy(F.softmax(x, dim=1), y)\n",
        "import torch.nn.functional as F\nimport jax.nn as F\nloss = F.cross_entropy(F.softmax(x, dim=1), y)\n"]),
    ("use moved below the import", [
        "import jax.nn as F\nloss = F.cross_entropy(F.softmax(x, dim=1), y)\nimport torch.nn.functional as F\n",
        "import jax.nn as F\nimport torch.nn.functional as F\nloss = F.cross_entropy(F.softmax(x, dim=1), y)\n"]),
    ("star import edited", ["from torch.nn.functional import *\n" + _LOSS.replace("F.", ""),
                            "from jax.nn import *\n" + _LOSS.replace("F.", "")]),
    ("name bound again in a later statement", ["import torch.nn.functional as F\n" + _LOSS,
                                               "import torch.nn.functional as F\n" + _LOSS + "F = jax.nn\n"]),
])
def test_site_names_carried_to_the_next_version_hold_there(tmp_path: Path, name: str, versions: list[str]) -> None:
    """What a name refers to is carried from the last version for the nodes of unchanged
    statements, unless a binding that decided it changed: each version's findings are a fresh
    lint's, and the DLS502 of the torch version comes and goes."""
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\nselect = ["ALL"]\n', encoding="utf-8")
    session, path = Session(), str(tmp_path / "train.py")
    plan = prepare([Path(path)]).plan
    flagged = []
    for text in [*versions, *versions]:
        found = session.lint(path, text)
        assert found == Linter(plan).lint_content(path, text.encode("utf-8")).findings
        flagged.append(any(f.code == "DLS502" for f in found))
    assert flagged[0] != flagged[1] and flagged[:2] == flagged[2:]


def test_an_unchanged_statements_site_names_are_carried(tmp_path: Path) -> None:
    """The carry is what saves the work: after a code edit in one function, the reads of the
    others are not resolved again."""
    session, path = Session(), str(tmp_path / "train.py")
    text = (FIXTURES[0].parent / "image_classifier_amp_dls3_4_5_6.py").read_text(encoding="utf-8")
    session.lint(path, text)
    reuse = session._reuse[path]
    edited = code_edit(text, 0)
    resolved: list[str] = []
    original = SiteNames._compute

    def counting(self: SiteNames, dotted: str, *args: Any) -> Any:
        resolved.append(dotted)
        return original(self, dotted, *args)

    SiteNames._compute = counting  # type: ignore[method-assign]
    try:
        session.lint(path, edited)
    finally:
        SiteNames._compute = original  # type: ignore[method-assign]
    assert reuse.sites._answers and len(resolved) < len(reuse.sites._answers) / 4


def _findings_by_function(session: Session, path: str, text: str) -> dict[str, list[str]]:
    """The session's findings for ``text`` (asserted equal to a fresh lint's), by the function
    each lies in."""
    found = session.lint(path, text)
    fresh = Linter(prepare([Path(path)]).plan).lint_content(path, text.encode("utf-8")).findings
    assert found == fresh
    lines = text.splitlines()
    by_function: dict[str, list[str]] = {}
    for finding in found:
        header = next(line for line in reversed(lines[:finding.line]) if line.startswith("def "))
        by_function.setdefault(header[4:header.index("(")], []).append(finding.code)
    return by_function


_EVALUATE = """import torch
import torch.nn as nn


def evaluate(model, loader):
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
    return out


def main(loader):
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    model.train()
    model.eval()
    return evaluate(model, loader)
"""


def test_an_edit_of_a_caller_changes_the_findings_of_the_unchanged_callee(tmp_path: Path) -> None:
    """What a caller does before the call (``model.eval()``) decides DLS301 inside ``evaluate``,
    whose text never changes: nothing kept from the last version may answer for it."""
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\nselect = ["ALL"]\n', encoding="utf-8")
    session, path = Session(), str(tmp_path / "train.py")
    still_training = _EVALUATE.replace("    model.eval()\n", "")
    assert "DLS301" not in _findings_by_function(session, path, _EVALUATE).get("evaluate", [])
    assert "DLS301" in _findings_by_function(session, path, still_training).get("evaluate", [])
    assert "DLS301" not in _findings_by_function(session, path, _EVALUATE).get("evaluate", [])


def test_what_a_caller_passes_decides_the_callees_finding(tmp_path: Path) -> None:
    """DLS502 in ``step`` holds because its only caller passes ``nn.CrossEntropyLoss()`` for
    ``criterion``; the caller edited to pass ``nn.MSELoss()`` silences it, and back again."""
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\nselect = ["ALL"]\n', encoding="utf-8")
    cross_entropy = (
        "import torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
        "def step(model, criterion, x, y):\n    return criterion(F.softmax(model(x), dim=1), y)\n\n\n"
        "def main(model, x, y):\n    return step(model, nn.CrossEntropyLoss(), x, y)\n")
    squared = cross_entropy.replace("nn.CrossEntropyLoss()", "nn.MSELoss()")
    session, path = Session(), str(tmp_path / "train.py")
    assert _findings_by_function(session, path, cross_entropy).get("step") == ["DLS502"]
    assert "step" not in _findings_by_function(session, path, squared)
    assert _findings_by_function(session, path, cross_entropy).get("step") == ["DLS502"]


def test_an_import_edited_at_the_top_changes_an_unchanged_functions_finding(tmp_path: Path) -> None:
    """``nn`` re-imported from flax: the model built in ``main`` holds no torch dropout, so
    ``evaluate`` (unchanged, as is ``main``) has nothing to report."""
    (tmp_path / "pyproject.toml").write_text('[tool.dlsan]\nselect = ["ALL"]\n', encoding="utf-8")
    session, path = Session(), str(tmp_path / "train.py")
    still_training = _EVALUATE.replace("    model.eval()\n", "")
    assert "DLS301" in _findings_by_function(session, path, still_training).get("evaluate", [])
    flax = still_training.replace("import torch.nn as nn", "import flax.linen as nn")
    assert "evaluate" not in _findings_by_function(session, path, flax)
    assert "DLS301" in _findings_by_function(session, path, still_training).get("evaluate", [])


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.name)
def test_comments_by_chunk_are_the_whole_texts(path: Path) -> None:
    reuse = DocumentReuse()
    text = path.read_text(encoding="utf-8")
    versions = [*_versions(text), text.replace("\n", "\r\n"), text + '"""unterminated\n', text + "# last", text]
    by_chunk = 0
    for version in versions:
        reuse.parser.parse(version)
        by_chunk += bool(reuse.parser.chunk_texts)
        assert reuse.comments(version) == comments(version)
    assert by_chunk > len(versions) / 2


@pytest.mark.parametrize("path", FIXTURES[:6], ids=lambda path: path.name)
def test_preorder_from_the_last_versions_statements_is_the_modules(path: Path) -> None:
    reuse = DocumentReuse()
    for version in _versions(path.read_text(encoding="utf-8")):
        parsed = reuse.parser.parse(version)
        if parsed is None:
            continue
        kept, fresh = reuse.preorder(parsed.module), preorder(parsed.module)
        assert kept.root is fresh.root is parsed.module
        assert [_ids(part.nodes) for part in kept.parts] == [_ids(part.nodes) for part in fresh.parts]
        assert _places(kept) == _places(fresh)
        every = [node for part in kept.parts for node in part.nodes]
        assert _ids(kept.nodes) == _ids([parsed.module, *every])
        for node in [parsed.module, *every[::7]]:
            assert _ids(kept.below(node) or ()) == _ids(descendants(node))
            start, end = kept.span(node) or (-1, -1)
            assert kept.nodes[start] is node and _ids(kept.nodes[start + 1:end]) == _ids(descendants(node))
        assert kept.below(cst.Name("made_by_a_rule")) is None and kept.span(cst.Name("made_by_a_rule")) is None


def _places(tree: Preorder) -> dict[int, tuple[list[int], int, int]]:
    return {key: (_ids(nodes), start, end) for key, (nodes, start, end) in tree.places.items()}


class _Recorder:
    """Records every visit and leave with the chain of enclosing nodes at that moment."""

    def __init__(self, ancestors: list[cst.CSTNode]) -> None:
        self.ancestors = ancestors
        self.events: list[tuple[str, int, list[int]]] = []

    def _record(self, kind: str, node: cst.CSTNode) -> None:
        self.events.append((kind, id(node), _ids(self.ancestors)))

    def visit_Call(self, node: cst.Call) -> None:
        self._record("visit", node)

    def leave_Call(self, node: cst.Call) -> None:
        self._record("leave", node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._record("visit", node)

    def leave_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self._record("leave", node)

    def visit_Name(self, node: cst.Name) -> None:
        self._record("visit", node)


@pytest.mark.parametrize("path", FIXTURES[:6], ids=lambda path: path.name)
def test_walking_the_listed_tree_is_walking_the_tree(path: Path) -> None:
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    listed: list[cst.CSTNode] = []
    walked: list[cst.CSTNode] = []
    by_list, by_tree = _Recorder(listed), _Recorder(walked)
    walk_listed(preorder(module), Dispatcher([by_list]), listed)
    walk(module, Dispatcher([by_tree]), walked)
    assert by_list.events == by_tree.events and len(by_tree.events) > 100
    assert listed == walked == []
