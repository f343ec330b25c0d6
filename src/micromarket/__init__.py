"""micromarket: a micromarketing engine, from customer data to measured incremental return."""

from .exceptions import ConfigError, IngestError, MicromarketError, SchemaError, WorkspaceError
from .workspace import Workspace

__version__ = "0.1.0"



def __getattr__(name: str):
    # Made on first use (it imports scikit-learn): see micromarket.exceptions.
    if name == "NotFittedError":
        from .exceptions import NotFittedError

        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
