"""The language server (``dlsan server``), built on pygls and lsprotocol: the optional extra
``dlsan[lsp]``.  :func:`lsp_available` tells whether they are installed; the server itself is in
:mod:`dlsan.server.server`, which imports them."""

from __future__ import annotations

from importlib.util import find_spec

LSP_MISSING = "the language server needs pygls and lsprotocol: pip install 'dlsan[lsp]'"


def lsp_available() -> bool:
    return find_spec("pygls") is not None and find_spec("lsprotocol") is not None


__all__ = ["LSP_MISSING", "lsp_available"]
