"""micromarket: a micromarketing engine, from customer data to measured incremental return."""

from .exceptions import (
    ConfigError,
    IngestError,
    MicromarketError,
    NotFittedError,
    SchemaError,
    WorkspaceError,
)
from .workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "Workspace",
    "MicromarketError",
    "WorkspaceError",
    "ConfigError",
    "SchemaError",
    "IngestError",
    "NotFittedError",
    "__version__",
]
