"""One exception tree for the whole package.

Every error a user can cause derives from :class:`MicromarketError`; each is also a
builtin (``ValueError``, ``FileNotFoundError`` ...) so callers can catch either. The CLI
turns them into ``Error: ...`` on stderr and exit status 1.

:class:`NotFittedError` is also scikit-learn's ``NotFittedError``, so code written for
scikit-learn models catches it unchanged.
"""

from __future__ import annotations


class MicromarketError(Exception):
    """Base class of every error micromarket raises on purpose."""


class WorkspaceError(MicromarketError, FileNotFoundError):
    """A workspace is missing, incomplete, or already exists."""


class WorkspaceBusyError(WorkspaceError):
    """The workspace's database or warehouse is open for writing in another process."""


class ConfigError(MicromarketError, ValueError):
    """``micromarket.toml`` is malformed or names something unknown."""


class SchemaError(MicromarketError, ValueError):
    """An input lacks a required column, or a mapping names a column that is not there."""


class NotFoundError(SchemaError, LookupError):
    """A name or id given (a segment, a campaign, a customer) is not in the workspace."""


class IngestError(MicromarketError, ValueError):
    """An input file or table cannot be read or loaded.

    Parameters
    ----------
    message : str
        What went wrong, already naming the file, row, column, value and rule.
    problems : list of dict, optional
        The first problems found, each with ``row``, ``column``, ``value``, ``rule``
        and ``message`` keys, for programs that read them (``--json``).
    """

    def __init__(self, message: str, problems: list[dict] | None = None):
        super().__init__(message)
        self.problems = problems or []


def __getattr__(name: str):
    # NotFittedError subclasses scikit-learn's, and importing scikit-learn takes about a second:
    # it is made on first use, so commands that fit nothing (``--help``, ``init``, ``ingest``) start fast.
    if name in ("NotFittedError", "check_fitted"):
        from . import _fitted

        return getattr(_fitted, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
