"""One exception tree for the whole package.

Every error a user can cause derives from :class:`MicromarketError`; each is also a
builtin (``ValueError``, ``FileNotFoundError`` ...) so callers can catch either. The CLI
turns them into ``Error: ...`` on stderr and exit status 1.

:class:`NotFittedError` is also scikit-learn's ``NotFittedError``, so code written for
scikit-learn models catches it unchanged.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted


class MicromarketError(Exception):
    """Base class of every error micromarket raises on purpose."""


class WorkspaceError(MicromarketError, FileNotFoundError):
    """A workspace is missing, incomplete, or already exists."""


class ConfigError(MicromarketError, ValueError):
    """``micromarket.toml`` is malformed or names something unknown."""


class SchemaError(MicromarketError, ValueError):
    """An input lacks a required column, or a mapping names a column that is not there."""


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


class NotFittedError(MicromarketError, _SklearnNotFittedError):
    """A model was used before ``fit``.

    Both a :class:`MicromarketError` and scikit-learn's ``NotFittedError`` (hence also a
    ``ValueError`` and an ``AttributeError``).

    >>> import sklearn.exceptions
    >>> issubclass(NotFittedError, sklearn.exceptions.NotFittedError)
    True
    """


def check_fitted(model, attributes) -> None:
    """Raise :class:`NotFittedError` naming ``model``'s class unless it has every one of
    ``attributes`` (scikit-learn's ``check_is_fitted``, with this package's error).

    >>> from sklearn.linear_model import LinearRegression
    >>> check_fitted(LinearRegression(), ["coef_"])
    Traceback (most recent call last):
    ...
    micromarket.exceptions.NotFittedError: LinearRegression is not fitted yet; call fit first
    """
    try:
        check_is_fitted(model, attributes, msg="%(name)s is not fitted yet; call fit first")
    except _SklearnNotFittedError as error:
        raise NotFittedError(str(error)) from None
