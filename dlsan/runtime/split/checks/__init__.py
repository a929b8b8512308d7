"""One module per split check; each exposes ``NAME`` and ``run(...) -> CheckResult``."""
