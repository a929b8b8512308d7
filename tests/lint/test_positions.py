"""The positions dlsan computes are libcst's, node for node (only the road to them is shorter)."""

from __future__ import annotations

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from dlsan.lint.positions import positions_of
from dlsan.lint.walk import descendants

SOURCES = [
    "x = 1\n",
    "import torch\n\n\n@torch.no_grad()\ndef f(a, *, b=2):\n    # comment\n    return a + b  # trailing\n",
    "class A:\n\tdef g(self):\n\t\treturn '''multi\nline'''\n",
    "y = [\n    1,\n    2,\n]\r\nz = {'k': (1, 2)}\r\n",
    "if a:\n    pass\nelif b:\n    pass\nelse:\n    c = lambda q: q ** 2",  # no newline at the end
    "s = 'naïve 漢字'; t = f'{s!r:>10}'\n",
]


@pytest.mark.parametrize("source", SOURCES)
def test_positions_equal_libcst_metadata(source: str) -> None:
    module = cst.parse_module(source)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    ours = positions_of(module)
    assert dict(ours) == dict(expected)
    assert all(node in ours for node in descendants(module))
