"""The error for a model used before ``fit`` (see :mod:`micromarket.exceptions`, which exports it).

Apart because it subclasses scikit-learn's error: importing scikit-learn is slow, and
:mod:`micromarket.exceptions` makes this module only when the error is first asked for.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

from .exceptions import MicromarketError


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
    micromarket._fitted.NotFittedError: LinearRegression is not fitted yet; call fit first
    """
    try:
        check_is_fitted(model, attributes, msg="%(name)s is not fitted yet; call fit first")
    except _SklearnNotFittedError as error:
        raise NotFittedError(str(error)) from None


__all__ = ["NotFittedError", "check_fitted"]
