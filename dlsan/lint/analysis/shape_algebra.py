"""Shape algebra: dims, broadcasting, and what shape operations do to a shape.  Pure: no syntax.

* a :class:`Shape` is a tuple of dims; a dim is an ``int``, a symbol (``"N"``, ``"batch_size"``,
  the source of a size expression), or ``None`` (unknown).  Symbols are assumed to be sizes other
  than 1 (a batch, a feature count); ``None`` may be anything, 1 included.
* an inexact shape (``exact=False``) knows only its trailing dims: more may lead.
* ``None`` instead of a shape means "cannot tell"; every function here answers ``None`` when
  its input does not determine the result.

What an expression's shape is (reading code) is :mod:`dlsan.lint.analysis.shape_inference`'s
question; this module only computes with shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Union

Dim = Union[int, str, None]


@dataclass(frozen=True)
class Shape:
    dims: tuple[Dim, ...]
    #: False when more (unknown) dims may lead the known ones
    exact: bool = True
    #: positions, counted from the right (-1 = last), of singleton dims inserted on purpose with
    #: ``x[:, None]`` or ``unsqueeze``: a broadcast over them is intended
    explicit: frozenset[int] = frozenset()
    #: positions, counted as for ``explicit``, of singleton dims written as a literal ``1`` in a
    #: ``view``/``reshape`` (``dist.view(-1, 1)``): when both operands stretch only over such
    #: spelled-out singletons (``dist.view(-1, 1) - offset.view(1, -1)``), the outer product is meant
    spelled: frozenset[int] = frozenset()

    def __str__(self) -> str:
        inner = ", ".join("?" if d is None else str(d) for d in self.dims)
        if len(self.dims) == 1 and self.exact:
            inner += ","
        return f"(..., {inner})" if not self.exact else f"({inner})"

    @property
    def rank(self) -> int | None:
        return len(self.dims) if self.exact else None


SCALAR = Shape(())
#: some tensor, nothing known about its dims
UNKNOWN = Shape((), exact=False)
#: the symbol for the batch dim a layer applied to an input of unknown shape is assumed to get
BATCH = "batch"


def numel_symbol(source: str) -> str:
    """The symbol for the element count of the tensor written ``source`` (``x.view(-1)``)."""
    return f"numel({source})"


# -- broadcasting ----------------------------------------------------------------------------------


def _not_one(dim: Dim) -> bool:
    """The dim is known (or assumed, for a symbol) to differ from 1."""
    return isinstance(dim, str) or (isinstance(dim, int) and dim != 1)


def _positions(a: Shape, b: Shape) -> range:
    return range(1, max(len(a.dims), len(b.dims)) + 1)


def _dim_from_right(shape: Shape, position: int) -> Dim | bool:
    """The dim at ``-position``; ``False`` when the shape has no such dim, ``None`` when unknown."""
    if position <= len(shape.dims):
        return shape.dims[-position]
    return False if shape.exact else None


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """The broadcast of two shapes; ``None`` when they certainly clash or cannot be told apart."""
    dims: list[Dim] = []
    for position in _positions(a, b):
        left, right = _dim_from_right(a, position), _dim_from_right(b, position)
        if left is False:
            dims.append(right)
        elif right is False:
            dims.append(left)
        elif left == 1:
            dims.append(right)
        elif right == 1 or left == right:
            dims.append(left)
        elif isinstance(left, int) and isinstance(right, int):
            return None
        else:
            dims.append(left if left is not None else right)
    # ``dims`` runs from the right: position p (from the right) is dims[p - 1]
    explicit = frozenset(p for p in a.explicit | b.explicit if p <= len(dims) and dims[p - 1] == 1)
    spelled = frozenset(p for p in a.spelled | b.spelled if p <= len(dims) and dims[p - 1] == 1)
    return Shape(tuple(reversed(dims)), a.exact and b.exact, explicit, spelled)


def expanded_positions(a: Shape, b: Shape) -> set[int]:
    """Positions (from the right) where broadcasting against ``b`` certainly stretches ``a``.

    A dim of ``a`` is stretched when it is 1 (or missing, ``a`` being exact and shorter) and ``b``'s
    dim there is not 1.
    """
    stretched: set[int] = set()
    for position in _positions(a, b):
        mine, theirs = _dim_from_right(a, position), _dim_from_right(b, position)
        if (mine is False or mine == 1) and theirs is not False and _not_one(theirs):
            stretched.add(position)
    return stretched


def broadcasts_both_ways(a: Shape, b: Shape, *, allow_outer: bool = True) -> bool:
    """Whether each operand is stretched by the other (``(N,)`` with ``(N, 1)`` gives ``(N, N)``).

    With ``allow_outer``, what looks like an intended outer product is not reported: a stretch
    over a singleton inserted on purpose (``u[:, None]``), both operands stretched only over
    singletons spelled out in their views (``d.view(-1, 1) - o.view(1, -1)``), or operands whose
    sizes are known to be different quantities (``(max_len, 1)`` with ``(d_model,)``).
    """
    if broadcast(a, b) is None:
        return False
    stretched_a, stretched_b = expanded_positions(a, b), expanded_positions(b, a)
    if not stretched_a or not stretched_b:
        return False
    if allow_outer and (stretched_a & a.explicit or stretched_b & b.explicit or _distinct_extents(a, b)
                        or (stretched_a <= a.spelled and stretched_b <= b.spelled)):
        return False
    return True


def expand(base: Shape, target: Shape) -> Shape | None:
    """``base`` expanded to ``target``'s dims (``expand_as``, or ``expand`` with sizes); ``None``
    when it cannot be (aligned from the right, only singleton or missing dims stretch) or when
    two different sizes are not known to be equal.

    New leading singleton dims (``x.expand(1, N)``) are inserted on purpose, like ``x[None]``."""
    for position in range(1, len(base.dims) + 1):
        mine, theirs = _dim_from_right(base, position), _dim_from_right(target, position)
        if theirs is False:
            return None  # expand never drops dims
        if mine is None or theirs is None or mine == 1 or mine == theirs or _is_fresh(mine) or _is_fresh(theirs):
            continue
        return None
    added = range(len(base.dims) + 1, len(target.dims) + 1) if base.exact else range(0)
    new = {p for p in added if target.dims[-p] == 1}
    return Shape(target.dims, target.exact, target.explicit | frozenset(new))


def _is_fresh(dim: Dim) -> bool:
    """A symbol the inference made up (a batch, a flattened size): it may equal any other size."""
    return isinstance(dim, str) and (dim == BATCH or dim.startswith("numel("))


def _distinct_extents(a: Shape, b: Shape) -> bool:
    """Both shapes are fully known and their non-singleton sizes differ: ``(N, 1)`` against
    ``(M,)`` is an outer product of two different things, ``(N, 1)`` against ``(N,)`` is not."""
    sizes = []
    for shape in (a, b):
        kept = [d for d in shape.dims if d != 1]
        if not shape.exact or any(d is None or _is_fresh(d) for d in kept):
            return False
        sizes.append(sorted(str(d) for d in kept))
    return sizes[0] != sizes[1]


# -- reductions ------------------------------------------------------------------------------------


def _normalize(dim: int, rank: int) -> int | None:
    index = dim + rank if dim < 0 else dim
    return index if 0 <= index < rank else None


def reduce_shape(base: Shape, dims: tuple[int, ...], keepdim: bool) -> Shape | None:
    """The shape of a reduction of ``base`` over ``dims``."""
    if not base.exact:
        if any(d >= 0 or -d > len(base.dims) for d in dims):
            return None
        positions = {len(base.dims) + d for d in dims}
    else:
        normalized = [_normalize(d, len(base.dims)) for d in dims]
        if any(n is None for n in normalized):
            return None
        positions = {n for n in normalized if n is not None}
    kept = [1 if i in positions else d for i, d in enumerate(base.dims) if keepdim or i not in positions]
    return Shape(tuple(kept), base.exact)


def reduction_misaligns(dims: tuple[int, ...], rank: int | None) -> bool:
    """Whether a reduction over ``dims`` without ``keepdim``, broadcast back against its input of
    rank ``rank`` (``None``: unknown), lines the result up with the wrong dims.

    It broadcasts back correctly exactly when the reduced dims are a leading block
    ``{0, ..., k-1}``.  With the rank unknown, positive dims are judged as they are and ``-1``
    alone is a misalignment (it is dim 0 only for a 1-D input); other negative dims cannot tell.
    """
    if rank is not None:
        normalized = {d + rank if d < 0 else d for d in dims}
        if any(not 0 <= d < rank for d in normalized):
            return False
        return normalized != set(range(len(normalized)))
    if all(d >= 0 for d in dims):
        return set(dims) != set(range(len(set(dims))))
    return set(dims) == {-1}


# -- shape-changing operations ---------------------------------------------------------------------


def unsqueeze(base: Shape, dim: int) -> Shape | None:
    if dim < 0:
        position = len(base.dims) + 1 + dim
        if position < 0 or (not base.exact and position == 0 and dim != -1):
            return None
    else:
        if not base.exact or dim > len(base.dims):
            return None
        position = dim
    dims = (*base.dims[:position], 1, *base.dims[position:])
    from_right = len(dims) - position
    return Shape(dims, base.exact, frozenset({from_right} | {p for p in base.explicit if p < from_right}
                                             | {p + 1 for p in base.explicit if p >= from_right}))


def squeeze(base: Shape, dim: int | None, *, has_dim: bool) -> Shape | None:
    if has_dim:
        if dim is None:
            return None
        index = _normalize(dim, len(base.dims)) if base.exact else (len(base.dims) + dim if dim < 0 else None)
        if index is None or index < 0:
            return None
        current = base.dims[index]
        if current is None:
            return None
        return Shape(base.dims[:index] + base.dims[index + 1:], base.exact) if current == 1 else base
    if not base.exact or any(d is None for d in base.dims):
        return None
    return Shape(tuple(d for d in base.dims if d != 1))


def flatten(base: Shape, start: int | None, end: int | None) -> Shape | None:
    if start is None or end is None or not base.exact:
        return None
    rank = len(base.dims)
    if rank == 0:
        return Shape((1,))
    first, last = _normalize(start, rank), _normalize(end, rank)
    if first is None or last is None or first > last:
        return None
    merged = product(base.dims[first:last + 1])
    return Shape((*base.dims[:first], merged, *base.dims[last + 1:]))


def product(dims: tuple[Dim, ...]) -> Dim:
    """The size of dims multiplied together (``"C*H*W"`` for symbols)."""
    if any(d is None for d in dims):
        return None
    numbers = [d for d in dims if isinstance(d, int)]
    symbols = sorted(d for d in dims if isinstance(d, str))
    total = math.prod(numbers)
    if not symbols:
        return total
    if total == 1 and len(symbols) == 1:
        return symbols[0]
    return "*".join([*([str(total)] if total != 1 else []), *symbols])


def remaining(base: Shape, dims: list[Dim], source: str) -> Dim:
    """The size ``-1`` stands for in ``view``/``reshape`` of ``base`` (written ``source``) to
    ``dims`` (the ``-1`` left out)."""
    others = [d for d in dims if d is not None]
    if not base.exact:
        return numel_symbol(source) if all(d == 1 for d in others) else None
    if any(d is None for d in base.dims):
        return None
    symbols = [d for d in base.dims if isinstance(d, str)]
    number = math.prod(d for d in base.dims if isinstance(d, int))
    for other in others:
        if isinstance(other, str):
            if other not in symbols:
                return None
            symbols.remove(other)
        elif other == 0 or number % other:
            return None
        else:
            number //= other
    return product((number, *symbols))


def transpose(base: Shape, first: int, second: int) -> Shape | None:
    if base.exact:
        a, b = _normalize(first, len(base.dims)), _normalize(second, len(base.dims))
    elif first < 0 and second < 0 and max(-first, -second) <= len(base.dims):
        a, b = len(base.dims) + first, len(base.dims) + second
    else:
        return None
    if a is None or b is None:
        return None
    dims = list(base.dims)
    dims[a], dims[b] = dims[b], dims[a]
    return Shape(tuple(dims), base.exact)


def permute(base: Shape, order: list[int | None]) -> Shape | None:
    if not base.exact or len(order) != len(base.dims):
        return None
    normalized = [_normalize(o, len(base.dims)) if o is not None else None for o in order]
    indices = [n for n in normalized if n is not None]
    if len(indices) != len(normalized) or len(set(indices)) != len(indices):
        return None
    return Shape(tuple(base.dims[i] for i in indices))


def matmul(left: Shape, right: Shape) -> Shape | None:
    if not (left.exact and right.exact) or not left.dims or not right.dims:
        return None
    if len(left.dims) == 2 and len(right.dims) == 2:
        return Shape((left.dims[0], right.dims[1]))
    if len(left.dims) == 2 and len(right.dims) == 1:
        return Shape((left.dims[0],))
    if len(left.dims) == 1 and len(right.dims) == 2:
        return Shape((right.dims[1],))
    if len(left.dims) == 1 and len(right.dims) == 1:
        return SCALAR
    return None


# -- indexing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A slice ``lower:upper`` with literal bounds (``upper=None``: omitted); ``known=False`` for
    a slice whose bounds or step are not literals."""

    lower: int = 0
    upper: int | None = None
    known: bool = True

    def length(self, dim: Dim) -> Dim:
        if not self.known:
            return None
        if self.upper is None:
            if self.lower == 0:
                return dim
            return -self.lower if self.lower < 0 else None
        if self.lower >= 0 and self.upper > self.lower:
            return self.upper - self.lower
        return None


#: one item of an index: ``None`` (a new axis), ``...``, an integer, or a slice
IndexItem = Union[Literal["new", "ellipsis", "int"], Span]


def index(base: Shape, items: list[IndexItem]) -> Shape | None:
    """``x[...]`` with ``None``, ``...``, ints and slices."""
    if items.count("ellipsis") > 1:
        return None
    if "ellipsis" in items:
        split = items.index("ellipsis")
        head, tail = items[:split], items[split + 1:]
    else:
        head, tail = items, []
    consumed_head = sum(item != "new" for item in head)
    consumed_tail = sum(item != "new" for item in tail)
    if consumed_head + consumed_tail > len(base.dims):
        return None
    if head and not base.exact:
        return None
    middle_end = len(base.dims) - consumed_tail
    dims: list[Dim] = []
    explicit_from_left: list[int] = []
    position = 0

    def apply(part: list[IndexItem]) -> None:
        nonlocal position
        for item in part:
            if item == "new":
                explicit_from_left.append(len(dims))
                dims.append(1)
            elif item == "int":
                position += 1
            elif isinstance(item, Span):
                dims.append(item.length(base.dims[position]))
                position += 1

    apply(head)
    dims.extend(base.dims[position:middle_end])
    position = middle_end
    apply(tail)
    explicit = frozenset(len(dims) - i for i in explicit_from_left)
    return Shape(tuple(dims), base.exact, explicit)
