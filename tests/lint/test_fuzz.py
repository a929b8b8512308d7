"""Fuzzing the linter with mutations of the real-shaped files under ``fixtures/``.

Properties:

* linting never raises, and returns only well-formed findings: known codes, positions inside the
  file, no rule crash (``Internal error``), and exactly one ``DLS000`` for what does not decode or
  parses neither with libcst nor with CPython (empty files are valid, with no finding);
* fixing (``--fix --unsafe-fixes``) never breaks a file: the result of a file that parsed parses
  and compiles, and fixing it again changes nothing;
* the CLI on a directory of mutated files exits 0/1/2 without a traceback, serially and with
  worker processes, and ``--fix`` reports a file it cannot write and leaves it untouched.

Mutations are seeded (Hypothesis with ``derandomize=True`` and no example database, plus
``random.Random`` with fixed seeds), so every run checks the same inputs.
"""

from __future__ import annotations

import ast
import codecs
import json
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlsan.lint.engine import RuleSelection, lint_bytes, lint_source, parse_module
from dlsan.lint.finding import PARSE_ERROR_CODE, PARSE_ERROR_NAME, LintFinding
from dlsan.lint.fixes import fix_source
from dlsan.lint.registry import all_rules
from dlsan.lint.text import split_lines

REPO = Path(__file__).resolve().parents[2]
FIXTURES = sorted((REPO / "fixtures").rglob("*.py"))
FIXTURE_SOURCES = [(path.relative_to(REPO).as_posix(), path.read_text(encoding="utf-8")) for path in FIXTURES]
RULES = all_rules()
SELECTION = RuleSelection(RULES, {})
NAMES = {rule.code: rule.name for rule in RULES} | {PARSE_ERROR_CODE: PARSE_ERROR_NAME}
ONLY_AST = 0x400

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- mutations -------------------------------------------------------------------------------------

Mutation = Callable[[random.Random, bytes], bytes]

PYTHON2_LINES = (
    'print "epoch", epoch, loss',
    "print >>sys.stderr, 'diverged'",
    "except RuntimeError, err:",
    'exec "import torch"',
    "raise ValueError, 'bad shape'",
    "x = `loss`",
    "mode = 0755",
    "text = ur'caf\\xe9'",
    "def unpack((a, b)):",
    "if lr <> 0.1:",
)
UNICODE_SNIPPETS = ("é", "ß", "ı", "🔥", "\u200b", "\u202e", "e\u0301", "\u3000", "𝔁", "\ufeff", "\x0c", "\x0b")


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [b""]


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def delete_lines(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    start = rng.randrange(len(lines))
    del lines[start: start + rng.randint(1, 5)]
    return b"".join(lines)


def duplicate_lines(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    start = rng.randrange(len(lines))
    block = lines[start: start + rng.randint(1, 8)]
    at = rng.randrange(len(lines) + 1)
    return b"".join(lines[:at] + block + lines[at:])


def shift_indent(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    lines[i] = b"    " + lines[i] if rng.random() < 0.5 else lines[i][4:] if lines[i].startswith(b"    ") else lines[i]
    return b"".join(lines)


def insert_bytes(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[at:]


def flip_byte(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]


def insert_unicode(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    while 0 < at < len(data) and data[at] & 0xC0 == 0x80:  # not inside a UTF-8 sequence
        at -= 1
    return data[:at] + rng.choice(UNICODE_SNIPPETS).encode() + data[at:]


def insert_line(text: str) -> Mutation:
    def mutate(rng: random.Random, data: bytes) -> bytes:
        lines = _lines(data)
        at = rng.randrange(len(lines) + 1)
        indent = b" " * (len(lines[at]) - len(lines[at].lstrip(b" "))) if at < len(lines) else b""
        return b"".join(lines[:at] + [indent + text.encode() + b"\n"] + lines[at:])

    return mutate


def python2_line(rng: random.Random, data: bytes) -> bytes:
    return insert_line(rng.choice(PYTHON2_LINES))(rng, data)


def deep_nesting(rng: random.Random, data: bytes) -> bytes:
    depth = rng.choice((30, 99, 120, 199, 250))
    kind = rng.randrange(4)
    if kind == 0:
        snippet = "x = " + "(" * depth + "torch.load(f, weights_only=False)" + ")" * depth
    elif kind == 1:
        snippet = "x = " + "[" * depth + "]" * depth
    elif kind == 2:
        snippet = "x = " + " or ".join(["a"] * depth * 10) + " or torch.load(f, weights_only=False)"
    else:
        body = "".join(" " * i + "if x:\n" for i in range(depth // 2))
        snippet = body + " " * (depth // 2) + "y = torch.load(f, weights_only=False)"
    return insert_line(snippet)(rng, data)


def crlf(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def lone_cr(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")


def tabs(rng: random.Random, data: bytes) -> bytes:
    """Indent with tabs: everywhere (valid) or on one line (inconsistent, a TabError)."""
    lines = _lines(data)
    chosen = range(len(lines)) if rng.random() < 0.5 else [rng.randrange(len(lines))]
    for i in chosen:
        body = lines[i].lstrip(b" ")
        lines[i] = b"\t" * ((len(lines[i]) - len(body)) // 4) + body
    return b"".join(lines)


def bom(rng: random.Random, data: bytes) -> bytes:
    return codecs.BOM_UTF8 + data


def latin1(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"\n", " # d\xe9j\xe0 vu\n".encode("latin-1"), 1)


def utf16(rng: random.Random, data: bytes) -> bytes:
    return data.decode("utf-8", errors="replace").encode("utf-16")


def nul(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + b"\x00" + data[at:]


MUTATIONS: tuple[Mutation, ...] = (
    truncate, delete_lines, duplicate_lines, shift_indent, insert_bytes, flip_byte, insert_unicode,
    python2_line, deep_nesting, crlf, lone_cr, tabs, bom, latin1, utf16, nul,
    insert_line("# dlsan: ignore"), insert_line("pass"),
)


def _statements(source: str) -> list[ast.stmt]:
    return [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.stmt)]


def mutate_statement(rng: random.Random, source: str) -> str:
    """Delete (replace by ``pass``), duplicate or swap whole statements: the result mostly still
    parses, and the rules see new orders of zero_grad/backward/step, eval/train, fit/split, ..."""
    statements = _statements(source)
    if not statements:
        return source
    node = rng.choice(statements)
    lines = source.splitlines(keepends=True)
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
    start, end = first - 1, node.end_lineno or node.lineno
    inside = {id(n) for n in ast.walk(node)}
    if node.col_offset != len(lines[node.lineno - 1]) - len(lines[node.lineno - 1].lstrip()) or any(
            n.lineno in (node.lineno, end) and id(n) not in inside for n in statements):
        return source  # a statement sharing a line with another (after ";"): leave it
    indent = lines[node.lineno - 1][: node.col_offset]
    choice = rng.randrange(3)
    if choice == 0:
        lines[start:end] = [indent + "pass\n"]
    elif choice == 1:
        lines[end:end] = lines[start:end]
    else:
        siblings = [s for s in statements if s.col_offset == node.col_offset and s.lineno > (node.end_lineno or 0)]
        follower = min(siblings, key=lambda s: s.lineno, default=None)
        if follower is None or follower.lineno != end + 1 or _statement_owner(statements, follower) is not \
                _statement_owner(statements, node):
            return source
        follow_end = follower.end_lineno or follower.lineno
        lines[start:follow_end] = lines[end:follow_end] + lines[start:end]
    return "".join(lines)


def _statement_owner(statements: Sequence[ast.stmt], node: ast.stmt) -> ast.stmt | None:
    """The innermost compound statement whose body holds ``node`` (None at module level)."""
    owners = [s for s in statements if s is not node and s.lineno < node.lineno <= (s.end_lineno or 0)]
    return max(owners, key=lambda s: s.lineno, default=None)


def mutated(rng: random.Random, *, statement_steps: int, byte_steps: int) -> tuple[str, bytes]:
    name, source = rng.choice(FIXTURE_SOURCES)
    for _ in range(statement_steps):
        source = mutate_statement(rng, source)
    data = source.encode()
    for _ in range(byte_steps):
        data = rng.choice(MUTATIONS)(rng, data)
    return name, data


# -- what a valid result is --------------------------------------------------------------------------


def _compiles(source: str, flags: int = 0) -> bool:
    try:
        compile(source, "<fuzz>", "exec", flags=flags, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _libcst_parses(source: str) -> bool:
    try:
        parse_module(source)
    except (cst.ParserSyntaxError, RecursionError, MemoryError, ValueError):
        return False
    return True


def _parse_error_only(findings: Sequence[LintFinding]) -> bool:
    """Whether the lint gave one ``DLS000`` and nothing else: the right answer for text CPython
    rejects whether or not libcst parses it, so the oracle need not ask libcst then, whose parse of
    a 10,000-operand expression takes minutes (the lint stops at its nesting limit in milliseconds)."""
    return [finding.code for finding in findings] == [PARSE_ERROR_CODE]


def _decoded(data: bytes) -> str | None:
    try:
        return data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError:
        return None


def check_findings(data: bytes, findings: Sequence[LintFinding]) -> None:
    source = _decoded(data)
    if source is None or (not _compiles(source, ONLY_AST)
                          and (_parse_error_only(findings) or not _libcst_parses(source))):
        assert [f.code for f in findings] == [PARSE_ERROR_CODE], findings
        return
    if not source.strip():
        assert findings == [], findings
        return
    lines = split_lines(source)
    for finding in findings:
        assert NAMES.get(finding.code) == finding.name, finding
        assert "Internal error" not in finding.message, finding.message
        if finding.code == PARSE_ERROR_CODE:  # libcst's own limits on code CPython accepts
            assert finding.message.startswith(("Cannot parse", "Cannot locate", "Cannot check")), finding.message
            continue
        assert 1 <= finding.line <= finding.end_line <= len(lines), finding
        assert finding.column >= 1 and (finding.end_line, finding.end_column) >= (finding.line, finding.column)
        assert finding.column <= len(lines[finding.line - 1]) + 1
        if finding.fix is not None:
            assert finding.fix.applicability in ("safe", "unsafe")
            for edit in finding.fix.edits:
                assert (edit.line, edit.column) <= (edit.end_line, edit.end_column) <= (len(lines), len(lines[-1]) + 1)
                assert edit.end_column <= len(lines[edit.end_line - 1]) + 1


def check_fix_is_safe(name: str, source: str) -> None:
    """The fixed text parses and compiles whenever the input did; fixing it again changes nothing."""
    if not _compiles(source, ONLY_AST):
        return
    first = fix_source(name, source, SELECTION, unsafe=True)
    assert _compiles(first.source, ONLY_AST), first.source
    if _libcst_parses(source):
        assert _libcst_parses(first.source), first.source
    if _compiles(source):
        assert _compiles(first.source), first.source
    second = fix_source(name, first.source, SELECTION, unsafe=True)
    assert second.source == first.source and second.applied == 0, (first.source, second.source)


# -- properties --------------------------------------------------------------------------------------


@settings(FUZZ, max_examples=200)
@given(st.randoms(use_true_random=False), st.integers(0, 2), st.integers(1, 3))
def test_mutated_fixtures_never_crash_and_give_valid_findings(rng, statement_steps, byte_steps):
    name, data = mutated(rng, statement_steps=statement_steps, byte_steps=byte_steps)
    check_findings(data, lint_bytes(name, data, SELECTION))


@settings(FUZZ, max_examples=25)
@given(st.randoms(use_true_random=False), st.integers(1, 4))
def test_fixes_of_mutated_fixtures_parse_compile_and_are_idempotent(rng, statement_steps):
    name, data = mutated(rng, statement_steps=statement_steps, byte_steps=0)
    line_ends = rng.choice((None, crlf, lone_cr))
    source = (data if line_ends is None else line_ends(rng, data)).decode()
    check_findings(source.encode(), lint_source(name, source, SELECTION))
    check_fix_is_safe(name, source)


@pytest.mark.parametrize(("name", "source"), FIXTURE_SOURCES, ids=[name for name, _ in FIXTURE_SOURCES])
def test_every_fixture_fixes_safely(name, source):
    check_findings(source.encode(), lint_source(name, source, SELECTION))
    check_fix_is_safe(name, source)


SPECIAL_INPUTS = {
    "empty": b"",
    "only-bom": codecs.BOM_UTF8,
    "whitespace": b" \n\t\n\x0c\n",
    "bom-crlf": codecs.BOM_UTF8 + b"import torch\r\nstate = torch.load(f, weights_only=False)\r\n",
    "lone-cr": b"import torch\rfor b in loader:\r    loss = model(b)\r    loss.backward()\r    total += loss\r",
    "tabs": b"import torch\nfor b in loader:\n\tloss = model(b)\n\tloss.backward()\n\ttotal += loss\n",
    "form-feed-indent": b"import torch\nif ok:\n\x0c    state = torch.load(f, weights_only=False)\n",
    "latin1-cookie": b"# -*- coding: latin-1 -*-\nimport torch\nname = 'caf\xe9'\n",
    "utf16": "import torch\nx = torch.load(f, weights_only=False)\n".encode("utf-16"),
    "nul": b"import torch\nx = torch.load(f, weights_only=False)\x00\n",
    "python2": b"import torch\nprint 'loss', torch.load(f, weights_only=False)\n",
    "python2-except": b"try:\n    import torch\nexcept ImportError, e:\n    pass\n",
    "unterminated": b"import torch\ndoc = '''never closed\nx = torch.load(f, weights_only=False)\n",
    "backslash-eof": b"import torch\nx = torch.load(f, weights_only=False) + \\",
    "parens-199": b"import torch\nx = " + b"(" * 199 + b"torch.load(f, weights_only=False)" + b")" * 199 + b"\n",
    "parens-201": b"import torch\nx = " + b"(" * 201 + b"1" + b")" * 201 + b"\n",
    "indent-100": b"import torch\n" + b"".join(b" " * i + b"if x:\n" for i in range(100)) + b" " * 100 + b"y = 1\n",
    "sum-10k": b"import torch\nloss = " + b" + ".join([b"l"] * 10_000) + b"\n",
    "attribute-5k": b"import torch\nx = torch" + b".a" * 5_000 + b"\n",
    "call-chain-5k": b"import torch\nx = model" + b"()" * 5_000 + b"\n",
    "long-line": b"import torch\nx = [" + b"1, " * 5_000 + b"]\n",
    "many-strings": b"import torch\nx = " + b" ".join([b"'a'"] * 6_000) + b"\n",
    "surrogate-escape": b"import torch\nx = '\\ud800'\n",
    "non-bmp-identifiers": "import torch\n𝔁 = torch.load(f, weights_only=False)\nλ = 1\n".encode(),
}


@pytest.mark.parametrize("name", sorted(SPECIAL_INPUTS))
def test_special_inputs(name):
    data = SPECIAL_INPUTS[name]
    check_findings(data, lint_bytes(f"{name}.py", data, SELECTION))
    source = _decoded(data)
    if source is not None:
        check_fix_is_safe(f"{name}.py", source)


def test_ten_thousand_line_file():
    parts, size = [], 0
    while size < 10_000:
        for _, source in FIXTURE_SOURCES:
            part = "".join(line for line in source.splitlines(keepends=True) if not line.startswith("from __future__"))
            parts.append(part + "\n")
            size += part.count("\n") + 1
    data = "".join(parts).encode()
    findings = lint_bytes("big.py", data, SELECTION)
    check_findings(data, findings)
    assert len(findings) > 100


# -- engine regressions found by fuzzing --------------------------------------------------------------


def test_parser_stack_overflow_does_not_kill_the_process():
    """``a or b or ...`` and ``import a.b...`` are flat for CPython but one tree level per operand
    for libcst, whose native parser used to overflow the stack (SIGSEGV) on a few thousand."""
    script = textwrap.dedent("""
        from dlsan.lint.api import lint_source
        chains = ["x = " + " or ".join(["a"] * 20000), "import " + ".".join(["a"] * 20000),
                  "from " + ".".join(["a"] * 20000) + " import b"]
        for chain in chains:
            print([f.code for f in lint_source("import torch\\n" + chain + "\\n")])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.stdout.splitlines()) == 3


def test_finding_deep_inside_an_expression_is_a_dls000_not_a_recursion_error():
    source = "import torch\nx = a or " + " or ".join(["a"] * 3000) + " or torch.load(f, weights_only=False)\n"
    (finding,) = lint_source("deep.py", source, SELECTION)
    assert finding.code == PARSE_ERROR_CODE and "nested too deeply" in finding.message
    assert fix_source("deep.py", source, SELECTION, unsafe=True).source == source


# -- the CLI -----------------------------------------------------------------------------------------


def _write_corpus(directory: Path, seed: int, count: int) -> dict[Path, bytes]:
    rng = random.Random(seed)
    written: dict[Path, bytes] = {}
    for i in range(count):
        _, data = mutated(rng, statement_steps=rng.randint(0, 2), byte_steps=rng.randint(0, 2))
        written[directory / f"m{i:02d}.py"] = data
    for name in ("bom-crlf", "latin1-cookie", "utf16", "nul", "python2", "empty", "lone-cr"):
        written[directory / f"special {name}.py"] = SPECIAL_INPUTS[name]
    written[directory / "ünïcode dir" / "déjà vu.py"] = b"import torch\nx = torch.load(f, weights_only=False)\n"
    for path, data in written.items():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    (directory / "dangling.py").symlink_to(directory / "missing-target.py")
    return written


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlsan", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_on_a_directory_of_mutated_files(tmp_path, jobs):
    written = _write_corpus(tmp_path, seed=int(jobs), count=24)
    result = _run("check", "--no-cache", "--jobs", jobs, "--format", "json", ".", cwd=tmp_path)
    assert result.returncode in (0, 1, 2) and "Traceback" not in result.stderr, result.stderr[-3000:]
    findings = json.loads(result.stdout)
    assert {f["path"] for f in findings if f["code"] == PARSE_ERROR_CODE} >= {
        "special utf16.py", "special nul.py", "special python2.py"}
    assert not [f for f in findings if f["path"] == "special empty.py"]
    assert any(f["message"].startswith("Cannot read file") for f in findings)  # the dangling symlink
    text = _run("check", "--no-cache", "--jobs", jobs, "--statistics", ".", cwd=tmp_path)
    assert text.returncode == result.returncode and "Traceback" not in text.stderr

    compiled_before = {path for path, data in written.items() if _decoded(data) and _compiles(_decoded(data))}
    fixed = _run("check", "--no-cache", "--jobs", jobs, "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert fixed.returncode in (0, 1) and "Traceback" not in fixed.stderr, fixed.stderr[-3000:]
    after = {path: path.read_bytes() for path in written}
    for path in compiled_before:
        assert _compiles(after[path].decode("utf-8-sig")), path
    again = _run("check", "--no-cache", "--jobs", jobs, "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert "Traceback" not in again.stderr and "Fixed" not in again.stderr, again.stderr
    assert {path: path.read_bytes() for path in written} == after


def test_fix_reports_a_file_it_cannot_write_and_fixes_the_others(tmp_path):
    """Root may write read-only files, so the write of one file is refused by patching ``open``."""
    leaky = "import torch\nstate = torch.load('ckpt.pt')\n"
    (tmp_path / "requirements.txt").write_text("torch==2.4.1\n")  # before the weights_only default
    (tmp_path / "locked.py").write_text(leaky)
    (tmp_path / "open.py").write_text(leaky)
    script = textwrap.dedent("""
        import builtins, runpy, sys
        real_open = builtins.open
        def guarded(path, mode="r", *args, **kwargs):
            if "w" in mode and str(path).endswith("locked.py"):
                raise PermissionError(13, "Permission denied")
            return real_open(path, mode, *args, **kwargs)
        builtins.open = guarded
        sys.argv = ["dlsan", "check", "--fix", "--unsafe-fixes", "--no-cache", "."]
        runpy.run_module("dlsan", run_name="__main__")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert "locked.py: not fixed, cannot write: Permission denied" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "locked.py").read_text() == leaky
    assert "weights_only=True" in (tmp_path / "open.py").read_text()
    assert result.returncode == 1
    assert result.stdout.startswith("locked.py:2:9: DLS602")
