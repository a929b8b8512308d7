"""Where each node of a parsed file is: libcst's ``PositionProvider`` answer, computed once per file.

``MetadataWrapper.resolve(PositionProvider)`` is the public road to it, but on the way it runs a
batched visit with no visitor in it over the whole tree (libcst resolves the batchable providers of
a dependency level even when there are none), which rebuilds every node and costs more than the
positions themselves.  The provider is generated here directly on a wrapper that does not copy the
module (the tree comes straight from the parser and is never mutated), so the node objects the
rules saw are the keys.  The values are exactly libcst's (a test holds the two roads equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

Positions = Mapping[cst.CSTNode, CodeRange]


def positions_of(module: cst.Module) -> Positions:
    """The (start, end) range of every node of ``module``; raises RecursionError on trees deeper
    than libcst's recursive code generation can go."""
    return cast(Positions, PositionProvider()._gen(MetadataWrapper(module, unsafe_skip_copy=True)))
