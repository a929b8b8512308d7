"""The parts of a call and literal values that rules read (dlsan/lint/calls.py)."""

from __future__ import annotations

import libcst as cst
import pytest

from dlsan.lint.calls import numeric_value

LITERALS = ["1", "0", "00", "0_0", "0x1F", "0X1f", "0o17", "0b101", "0B1", "1_000", "12345678901234567891",
            "1e-4", "1E5", "1.", ".5", "0e0", "007.5", "1_0.5e1_0", "1e400", "1e-400", "0.1",
            "3.14159265358979323846264338327950288"]


@pytest.mark.parametrize("literal", LITERALS)
@pytest.mark.parametrize("sign", ["", "-", "+"])
def test_numeric_value_is_the_literal_value(literal: str, sign: str) -> None:
    """Read directly rather than by libcst's ``evaluated_value`` (an ``ast.literal_eval``), a
    number literal still gives that value."""
    node = cst.parse_expression(f"{sign}{literal}")
    literal_node = node.expression if isinstance(node, cst.UnaryOperation) else node
    assert isinstance(literal_node, (cst.Integer, cst.Float))
    expected = float(literal_node.evaluated_value) * (-1.0 if sign == "-" else 1.0)
    assert repr(numeric_value(node)) == repr(expected)


def test_numeric_value_of_what_is_no_float() -> None:
    assert numeric_value(cst.parse_expression("9" * 400)) is None  # an int too large for a float
    assert numeric_value(cst.parse_expression("1j")) is None
    assert numeric_value(cst.parse_expression("n")) is None
    assert numeric_value(cst.parse_expression("2 ** 3")) is None
