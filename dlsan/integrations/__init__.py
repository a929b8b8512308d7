"""dlsan in the tools people train and test with.

* :mod:`dlsan.integrations.lightning`: ``SanitizerCallback`` for a Lightning ``Trainer``;
* :mod:`dlsan.integrations.huggingface`: ``SanitizerCallback`` for a Hugging Face ``Trainer``;
* :mod:`dlsan.integrations.autoinstrument`: instrument every model as it is first called (what
  the pytest plugin, :mod:`dlsan.pytest_plugin`, runs around each test under ``--dlsan``).

Each module imports its framework only when imported itself; nothing here is imported by
``import dlsan``.
"""
