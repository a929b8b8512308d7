"""The single source of dlsan's version (read by hatchling and by the cache key)."""

__version__ = "0.1.0"
