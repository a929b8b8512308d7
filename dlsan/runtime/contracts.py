"""Shape contracts: ``"B T D -> B T K"``, einops-style, checked against a module's tensors.

Grammar: ``inputs -> outputs``; each side is a comma-separated list of tensor specs (either side may
be empty); a spec is a space-separated list of dimensions: a name (``B``, ``seq_len``), an integer
(``3``), ``_`` (any size) or ``...`` (any number of dimensions, at most once per spec); ``()`` is a
0-dim tensor.  Specs match the floating-point and integer tensors among the module's positional
then keyword arguments (inputs) and in its output (flattened: tuple order, dict order), in order.

A name binds to a size the first time it is seen in a forward pass and must keep that size in every
contract for the rest of the pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

Dim = Union[str, int]  # a name, "_", "...", or a fixed size


@dataclass(frozen=True)
class TensorSpec:
    dims: tuple[Dim, ...]
    text: str

    @property
    def has_ellipsis(self) -> bool:
        return "..." in self.dims


@dataclass(frozen=True)
class Contract:
    module: str
    text: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass
class Binding:
    size: int
    where: str


def parse_contract(module: str, text: str) -> Contract:
    """Parse ``text`` or raise ``ValueError`` saying what is wrong with it."""
    if not isinstance(text, str):
        raise ValueError(f"shapes[{module!r}] must be a string like 'B T D -> B T D', not {type(text).__name__}")
    if text.count("->") != 1:
        raise ValueError(f"shapes[{module!r}] = {text!r}: write exactly one '->' between inputs and outputs")
    left, right = text.split("->")
    return Contract(module, text, _parse_side(module, text, left), _parse_side(module, text, right))


def _parse_side(module: str, text: str, side: str) -> tuple[TensorSpec, ...]:
    if not side.strip():
        return ()
    return tuple(_parse_spec(module, text, part) for part in side.split(","))


def _parse_spec(module: str, text: str, part: str) -> TensorSpec:
    spec = part.strip()
    if spec == "()":
        return TensorSpec((), spec)
    if not spec:
        raise ValueError(f"shapes[{module!r}] = {text!r}: empty tensor spec between commas")
    dims: list[Dim] = []
    for token in spec.split():
        if token in ("...", "_"):
            dims.append(token)
        elif token.isdigit():
            dims.append(int(token))
        elif _NAME.match(token):
            dims.append(token)
        elif "(" in token or ")" in token:
            raise ValueError(f"shapes[{module!r}] = {text!r}: grouped dimensions like '(h d)' are not supported")
        else:
            raise ValueError(f"shapes[{module!r}] = {text!r}: {token!r} is not a name, an integer, '_' or '...'")
    if dims.count("...") > 1:
        raise ValueError(f"shapes[{module!r}] = {text!r}: '...' may appear once per tensor")
    return TensorSpec(tuple(dims), spec)


def check_tensor(
    spec: TensorSpec, shape: tuple[int, ...], bindings: dict[str, Binding], where: str
) -> str | None:
    """Match ``shape`` against ``spec``, binding new names; return a problem description or ``None``."""
    shown = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    dims = spec.dims
    if spec.has_ellipsis:
        cut = dims.index("...")
        before, after = dims[:cut], dims[cut + 1 :]
        if len(shape) < len(before) + len(after):
            return f"{where} has shape {shown}; '{spec.text}' needs at least {len(before) + len(after)} dimensions"
        pairs = list(zip(before, range(len(before)))) + [
            (dim, len(shape) - len(after) + i) for i, dim in enumerate(after)
        ]
    else:
        if len(shape) != len(dims):
            return f"{where} has shape {shown} with {len(shape)} dimensions; '{spec.text}' expects {len(dims)}"
        pairs = list(zip(dims, range(len(dims))))
    for dim, axis in pairs:
        size = int(shape[axis])
        if dim == "_":
            continue
        if isinstance(dim, int):
            if size != dim:
                return f"{where} has shape {shown}: axis {axis} must be {dim} ('{spec.text}'), it is {size}"
            continue
        bound = bindings.get(dim)
        if bound is None:
            bindings[dim] = Binding(size, f"{where} (axis {axis})")
        elif bound.size != size:
            return (
                f"{where} has shape {shown}: dimension {dim} (axis {axis}) is {size}, "
                f"but {dim} = {bound.size} was bound by {bound.where}"
            )
    return None
