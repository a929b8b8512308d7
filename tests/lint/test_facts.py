"""Typed facts (dlsan.lint.context.Fact, file_fact, node_fact): one answer per file and key."""

from __future__ import annotations

import libcst as cst

from dlsan.lint.context import Fact, FileContext, file_fact, node_fact


def _context(source: str = "x = 1\ny = 2\n") -> FileContext:
    return FileContext("t.py", source, cst.parse_module(source))


def test_a_fact_is_computed_once_per_file_and_key():
    calls: list[str] = []
    fact: Fact[str, int] = Fact("lengths")

    def compute(key: str) -> int:
        calls.append(key)
        return len(key)

    context = _context()
    assert fact.get(context, "abc", lambda: compute("abc")) == 3
    assert fact.get(context, "abc", lambda: compute("abc")) == 3
    assert fact.get(context, "de", lambda: compute("de")) == 2
    assert calls == ["abc", "de"]
    # another file has its own answers
    assert fact.get(_context(), "abc", lambda: compute("abc")) == 3
    assert calls == ["abc", "de", "abc"]


def test_two_facts_with_the_same_name_and_key_do_not_collide():
    first: Fact[None, str] = Fact("same")
    second: Fact[None, str] = Fact("same")
    context = _context()
    assert first.get(context, None, lambda: "one") == "one"
    assert second.get(context, None, lambda: "two") == "two"


def test_nodes_are_keys_by_identity():
    context = _context("x\nx\n")
    first, second = (statement.body[0].value for statement in context.module.body)
    assert first.deep_equals(second)
    fact: Fact[cst.CSTNode, int] = Fact("ids")
    assert fact.get(context, first, lambda: 1) == 1
    assert fact.get(context, second, lambda: 2) == 2


def test_a_guarded_fact_asked_for_itself_answers_the_reentry_value():
    context = _context()
    fact: Fact[int, str] = Fact("recursive")

    def compute(n: int) -> str:
        inner = fact.get_guarded(context, n, lambda: compute(n), "cycle")
        return f"saw {inner}"

    assert fact.get_guarded(context, 1, lambda: compute(1), "cycle") == "saw cycle"
    # the reentry value was not remembered: the answer is
    assert fact.get(context, 1, lambda: "never computed") == "saw cycle"


def test_decorated_facts():
    calls: list[object] = []

    @file_fact
    def statements(context: FileContext) -> int:
        calls.append(context)
        return len(context.module.body)

    @node_fact
    def name_of(context: FileContext, node: cst.SimpleStatementLine) -> str:
        calls.append(node)
        return context.code(node)

    context = _context()
    assert statements(context) == statements(context) == 2
    line = context.module.body[0]
    assert name_of(context, line) == name_of(context, line) == "x = 1\n"
    assert calls == [context, line]
    assert statements.__name__ == "statements"
