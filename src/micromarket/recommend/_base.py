"""What every recommender shares: the estimator contract and the top-N step with exclusions.

The contract, like scikit-learn's with a sparse matrix as the data:

``fit(interactions)``
    ``interactions`` is a customers x items ``scipy.sparse`` matrix of purchase counts
    (rows and columns are positions; the caller keeps the ids).
``recommend(users, history, n=10, exclude=None, allowed=None)``
    the top ``n`` items per user as ``(items, scores)``, both ``(len(users), n)``, best
    first; ``-1`` (score ``-inf``) where fewer than ``n`` items are left. ``history`` holds
    the users' rows of the interactions (what item-to-item and buy-again models score
    from); ``exclude`` the items never to recommend to each user (e.g. just bought);
    ``allowed`` a mask of items that may be recommended at all (in range, real products).

Two families share the top-N step. *Factor* models score ``user_vector @ item_vector`` and
hand the selection to :func:`implicit.cpu.topk.topk` (compiled, multithreaded, filters per
user), which is what makes a million customers x 50,000 items fast. *Score* models write a
dense block of scores per batch of users and select with NumPy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.cpu.topk import topk
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from ..exceptions import check_fitted

#: Most users per block for score models.
BATCH = 2048
#: Bytes of one block of dense scores: the block is float64 and its selection needs as much
#: again in indices, so 128 MB keeps the step near a quarter of a gigabyte whatever the
#: catalogue (2,048 users x 60,000 items would be 1 GB a block, 3.3 GB at the peak).
BLOCK_BYTES = 128 * 2**20


def block_rows(n_items: int) -> int:
    """Users per block of dense scores over ``n_items`` items (at least 16, at most :data:`BATCH`)."""
    return int(min(BATCH, max(16, BLOCK_BYTES // (8 * max(n_items, 1)))))


class Recommender(BaseEstimator):
    """Base class: input checks, the ``recommend`` contract and top-N selection."""

    #: What a complete fit sets; ``recommend`` raises :class:`~micromarket.exceptions.NotFittedError`
    #: without them (subclasses add their own, so a first fit that failed half-way counts as none).
    _fitted_attributes: tuple[str, ...] = ("n_items_", "popularity_")

    def fit(self, interactions, segments=None) -> "Recommender":
        """Learn from a customers x items matrix of purchase counts.

        Parameters
        ----------
        interactions : scipy.sparse matrix, shape (n_users, n_items)
        segments : array of int, shape (n_users,), optional
            Each user's segment code (``-1`` for none); only segment models read it.
        """
        matrix = _check_matrix(interactions)
        self.n_items_ = matrix.shape[1]
        self.popularity_ = np.asarray((matrix > 0).sum(axis=0), dtype=np.float64).ravel()
        self._fit(matrix, segments)
        return self

    def recommend(self, users, history, n: int = 10, exclude=None, allowed=None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items for each of ``users`` (see the module for the arguments)."""
        check_fitted(self, self._fitted_attributes)
        users = np.asarray(users, dtype=np.int64)
        history = _check_matrix(history)
        if history.shape != (len(users), self.n_items_):
            raise ValueError(f"history has shape {history.shape}; expected ({len(users)}, {self.n_items_}): "
                             "one row per user over the fitted items")
        exclude = None if exclude is None else _check_matrix(exclude)
        banned = None if allowed is None else np.flatnonzero(~np.asarray(allowed, dtype=bool)).astype(np.int32)
        if hasattr(self, "_vectors"):
            return self._top_factors(users, history, n, exclude, banned)
        return self._top_scores(users, history, n, exclude, banned)

    # -- for subclasses ----------------------------------------------------------------
    def _fit(self, matrix: sp.csr_matrix, segments) -> None:
        raise NotImplementedError

    # -- top-N ---------------------------------------------------------------------------
    def _top_factors(self, users, history, n, exclude, banned):
        query, items = self._vectors(users, history)
        # topk multiplies blocks with BLAS and selects on all cores itself; threaded BLAS only contends.
        with threadpool_limits(1, "blas"):
            ids, scores = topk(np.ascontiguousarray(items, dtype=np.float32), np.ascontiguousarray(query, dtype=np.float32),
                               min(n, self.n_items_), filter_query_items=exclude,
                               filter_items=banned if banned is not None and banned.size else None, num_threads=0)
        # Filtered slots come back with the lowest float; mark them as missing.
        missing = scores <= np.finfo(np.float32).min / 2
        return _pad(np.where(missing, -1, ids), np.where(missing, -np.inf, scores), n)

    def _top_scores(self, users, history, n, exclude, banned):
        ids = np.full((len(users), n), -1, dtype=np.int64)
        scores = np.full((len(users), n), -np.inf)
        per_block = block_rows(self.n_items_)
        for start in range(0, len(users), per_block):
            block = slice(start, start + per_block)
            dense = np.asarray(self._scores(users[block], history[block]), dtype=np.float64)
            if exclude is not None:
                rows, cols = exclude[block].nonzero()
                dense[rows, cols] = -np.inf
            if banned is not None:
                dense[:, banned] = -np.inf
            ids[block], scores[block] = top_n(dense, n)
        return ids, scores


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best columns of each row of a dense score block, best first (``-1`` for ``-inf``)."""
    k = min(n, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    chosen = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-chosen, axis=1, kind="stable")
    ids, best = np.take_along_axis(part, order, axis=1), np.take_along_axis(chosen, order, axis=1)
    return _pad(np.where(np.isneginf(best), -1, ids), best, n)


def _pad(ids: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Widen to ``n`` columns when the catalogue has fewer items."""
    if ids.shape[1] == n:
        return ids.astype(np.int64), scores.astype(np.float64)
    extra = n - ids.shape[1]
    return (np.hstack([ids, np.full((len(ids), extra), -1)]).astype(np.int64),
            np.hstack([scores, np.full((len(ids), extra), -np.inf)]).astype(np.float64))


def _check_matrix(matrix) -> sp.csr_matrix:
    if not sp.issparse(matrix):
        raise TypeError(f"expected a scipy.sparse matrix of purchase counts, got {type(matrix).__name__}")
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    if matrix.nnz and matrix.data.min() < 0:
        raise ValueError("interactions must be counts >= 0 (returns are left out before, not subtracted)")
    return matrix


class FactorRecommender(Recommender):
    """A model that learns a vector per user (``user_factors_``) and per item (``item_factors_``)."""

    _fitted_attributes = Recommender._fitted_attributes + ("user_factors_", "item_factors_")

    def _vectors(self, users, history):
        return self.user_factors_[users], self.item_factors_
