"""The shape algebra (dlsan.lint.analysis.shape_algebra): plain shapes in, shapes out, no code."""

from __future__ import annotations

import pytest

from dlsan.lint.analysis import shape_algebra as A
from dlsan.lint.analysis.shape_algebra import SCALAR, Shape, Span


def _shape(*dims, exact=True, explicit=()):
    return Shape(tuple(dims), exact, frozenset(explicit))


def test_shapes_print_as_tuples():
    assert str(_shape("N", 1)) == "(N, 1)"
    assert str(_shape("N")) == "(N,)"
    assert str(_shape("batch", 1, exact=False)) == "(..., batch, 1)"
    assert str(_shape(None, 3)) == "(?, 3)"
    assert _shape("N", 1).rank == 2 and _shape("N", exact=False).rank is None


def test_broadcasting():
    assert A.broadcast(_shape("N", 1), _shape("N")) == _shape("N", "N")
    assert A.broadcast(_shape(3, 1), _shape(1, 4)) == _shape(3, 4)
    assert A.broadcast(_shape(3), _shape(4)) is None
    assert A.broadcast(_shape(1, exact=False), _shape("N")) == _shape("N", exact=False)
    assert A.broadcast(SCALAR, _shape("N", "D")) == _shape("N", "D")


def test_broadcast_keeps_explicit_singletons_that_survive():
    assert A.broadcast(_shape("N", 1, explicit={1}), _shape(1, 1)).explicit == {1}
    assert A.broadcast(_shape("N", 1, explicit={1}), _shape("M")).explicit == frozenset()


def test_which_operand_is_stretched():
    assert A.expanded_positions(_shape("N"), _shape("N", 1)) == {2}
    assert A.expanded_positions(_shape("N", 1), _shape("N")) == {1}
    assert A.expanded_positions(_shape("N", "D"), _shape("D")) == set()
    # an unknown dim may be 1: no certain stretch
    assert A.expanded_positions(_shape("N", 1), _shape(None)) == set()


def test_both_ways():
    assert A.broadcasts_both_ways(_shape("N", 1), _shape("N"))
    assert A.broadcasts_both_ways(_shape("batch", 1, exact=False), _shape("numel(y)"))
    assert not A.broadcasts_both_ways(_shape("N", "D"), _shape("D"))
    assert not A.broadcasts_both_ways(_shape("N", 1, explicit={1}), _shape(1, "M", explicit={2}))
    # different named sizes: an outer product on purpose, except in a loss
    assert not A.broadcasts_both_ways(_shape("max_len", 1), _shape("d_model"))
    assert A.broadcasts_both_ways(_shape("max_len", 1), _shape("d_model"), allow_outer=False)
    # a clash is not a broadcast
    assert not A.broadcasts_both_ways(_shape(3, 1), _shape(4, 2))


def test_both_ways_over_singletons_spelled_out_in_views():
    # d.view(-1, 1) - o.view(1, -1): each side stretched only over the 1 its view spells out
    spelled_column = Shape(("numel(d)", 1), spelled=frozenset({1}))
    spelled_row = Shape((1, "numel(o)"), spelled=frozenset({2}))
    assert not A.broadcasts_both_ways(spelled_column, spelled_row)
    assert A.broadcasts_both_ways(spelled_column, spelled_row, allow_outer=False)  # a loss never wants it
    # one side spelled, the other stretched over a missing dim: (N, 1) against (N,)
    assert A.broadcasts_both_ways(Shape(("N", 1), spelled=frozenset({1})), _shape("N"))
    # a broadcast keeps the spelled singletons that survive it
    assert A.broadcast(spelled_column, SCALAR).spelled == frozenset({1})


def test_reduce_shape():
    assert A.reduce_shape(_shape("N", "D"), (1,), False) == _shape("N")
    assert A.reduce_shape(_shape("N", "D"), (-1,), True) == _shape("N", 1)
    assert A.reduce_shape(_shape("batch", "D", exact=False), (-1,), False) == _shape("batch", exact=False)
    assert A.reduce_shape(_shape("N", "D"), (2,), False) is None
    assert A.reduce_shape(_shape("B", "C", "H", "W"), (2, 3), False) == _shape("B", "C")
    # a leading dim of an inexact shape is not known
    assert A.reduce_shape(_shape("D", exact=False), (0,), False) is None


@pytest.mark.parametrize(
    "dims, rank, misaligned",
    [
        ((0,), 2, False),         # x - x.mean(0): the reduced dim was the leading one
        ((1,), 2, True),          # x - x.mean(1): N meets D
        ((-1,), 2, True),
        ((-1,), 1, False),        # -1 of a 1-D tensor is dim 0
        ((0, 1), 3, False),       # a leading block
        ((0, 2), 3, True),
        ((-2,), 2, False),        # -2 of a matrix is dim 0
        ((3,), 2, False),         # out of range: not ours to judge
        ((1,), None, True),       # positive non-leading dims misalign whatever the rank
        ((0,), None, False),
        ((-1,), None, True),      # unknown rank: -1 is dim 0 only for a 1-D input
        ((-2,), None, False),     # cannot tell
    ],
)
def test_reduction_misaligns(dims, rank, misaligned):
    assert A.reduction_misaligns(dims, rank) is misaligned


def test_unsqueeze_marks_the_new_dim_explicit():
    assert A.unsqueeze(_shape("N"), 1) == _shape("N", 1, explicit={1})
    assert A.unsqueeze(_shape("N"), 0) == _shape(1, "N", explicit={2})
    assert A.unsqueeze(_shape("N", "D"), -1) == _shape("N", "D", 1, explicit={1})
    assert A.unsqueeze(_shape("N", exact=False), 0) is None
    assert A.unsqueeze(_shape("N", 1, explicit={1}), 0).explicit == {3, 1}


def test_squeeze():
    assert A.squeeze(_shape("N", 1), -1, has_dim=True) == _shape("N")
    assert A.squeeze(_shape("N", "D"), 1, has_dim=True) == _shape("N", "D")
    assert A.squeeze(_shape("N", 1, 1), None, has_dim=False) == _shape("N")
    assert A.squeeze(_shape("N", None), None, has_dim=False) is None
    assert A.squeeze(_shape("N", None), 1, has_dim=True) is None


def test_flatten_and_product():
    assert A.flatten(_shape("B", "C", "H", "W"), 1, -1) == _shape("B", "C*H*W")
    assert A.flatten(_shape(2, 3, 4), 0, -1) == _shape(24)
    assert A.flatten(SCALAR, 0, -1) == _shape(1)
    assert A.flatten(_shape("B", exact=False), 0, -1) is None
    assert A.product((2, "T", 3)) == "6*T"
    assert A.product((1, "D")) == "D"
    assert A.product((2, None)) is None


def test_remaining_size_of_a_view():
    assert A.remaining(_shape("B", "T", "D"), ["B", None], "x") == "D*T"
    assert A.remaining(_shape(4, 6), [2, None, 3], "x") == 4
    assert A.remaining(_shape(4, 6), [5, None], "x") is None
    assert A.remaining(_shape("D", exact=False), [None], "y") == "numel(y)"
    assert A.remaining(_shape("D", exact=False), [None, 3], "y") is None


def test_transpose_and_permute():
    assert A.transpose(_shape("B", "T", "D"), 1, 2) == _shape("B", "D", "T")
    assert A.transpose(_shape("T", "D", exact=False), -2, -1) == _shape("D", "T", exact=False)
    assert A.transpose(_shape("T", "D", exact=False), 0, 1) is None
    assert A.permute(_shape("B", "C", "H", "W"), [0, 2, 3, 1]) == _shape("B", "H", "W", "C")
    assert A.permute(_shape("B", "C"), [0, 0]) is None
    assert A.permute(_shape("B", "C"), [0, None]) is None


def test_matmul():
    assert A.matmul(_shape(8, 3), _shape(3, 1)) == _shape(8, 1)
    assert A.matmul(_shape(8, 3), _shape(3)) == _shape(8)
    assert A.matmul(_shape(3), _shape(3, 5)) == _shape(5)
    assert A.matmul(_shape(3), _shape(3)) == SCALAR
    assert A.matmul(_shape("B", 8, 3), _shape(3, 1)) is None


def test_expand():
    # u.unsqueeze(1).expand(-1, M): stretched on purpose, no singleton left to broadcast
    assert A.expand(_shape("N", 1, explicit={1}), _shape("N", "M")) == _shape("N", "M")
    # x.expand(1, N): the new leading singleton is inserted on purpose, like x[None]
    assert A.expand(_shape("N"), _shape(1, "N")) == _shape(1, "N", explicit={2})
    # expand never drops or shrinks dims
    assert A.expand(_shape("N", 1), _shape("N")) is None
    assert A.expand(_shape(3), _shape(2, 4)) is None
    # (N,) aligned against (N, D): N meets D, which it matches only when they are equal
    assert A.expand(_shape("N"), _shape("N", "D")) is None
    assert A.expand(_shape("batch", exact=False), _shape("N", "D")) == _shape("N", "D")


def test_index():
    assert A.index(_shape("N"), [Span(), "new"]) == _shape("N", 1, explicit={1})
    assert A.index(_shape("N", "D"), ["ellipsis", "new"]) == _shape("N", "D", 1, explicit={1})
    assert A.index(_shape("N", "D"), [Span(), "int"]) == _shape("N")
    assert A.index(_shape("N", "D"), ["int"]) == _shape("D")
    assert A.index(_shape("N", "D"), [Span(), Span(0, 1)]) == _shape("N", 1)
    assert A.index(_shape("N", "D"), [Span(), Span(known=False)]) == _shape("N", None)
    assert A.index(_shape("N"), ["int", "int"]) is None
    assert A.index(_shape("N", exact=False), ["int"]) is None
    assert A.index(_shape("N", "D"), ["ellipsis", "ellipsis"]) is None


def test_span_lengths():
    assert Span().length("N") == "N"
    assert Span(2, 5).length("N") == 3
    assert Span(-3).length("N") == 3
    assert Span(2).length("N") is None
    assert Span(known=False).length("N") is None


def test_the_algebra_reads_no_syntax():
    """Importing the algebra loads no libcst: it computes with shapes, never with code."""
    import subprocess
    import sys

    code = "import sys, dlsan.lint.analysis.shape_algebra; print('libcst' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
