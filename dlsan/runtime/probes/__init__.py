"""Built-in runtime probes, one concern per module; each registers itself with ``@register_probe``.

Every module in this package is imported by :func:`dlsan.runtime.probe.probe_classes`, so adding a
probe means adding a file here (see :mod:`dlsan.runtime.probe` for the interface).
"""
