"""Storage: the one layer that writes the workspace's tables (see :mod:`.base`)."""

from .base import Storage
from .duckdb import DuckDBStorage

__all__ = ["Storage", "DuckDBStorage"]
