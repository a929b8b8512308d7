"""One module per sanity check; each exposes ``NAME`` and ``run(session) -> CheckResult``."""
