"""Test-double rules: the documentation every rule needs, filled in once."""

from __future__ import annotations

DOCS = """
    ## What it does
    Nothing useful: it is a test double.

    ## Why is this bad?
    It is a test double.

    ## Example
    x

    ## Use instead
    y

    ## Fix safety
    Test only.
"""
