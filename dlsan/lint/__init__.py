"""The linter: rule base class, discovery, the one-walk engine, fixes and shared analysis.

Nothing under ``dlsan.lint`` imports torch: linting must stay light enough for a pre-commit hook.
"""
