"""Top-N metrics on a time split: precision@k, recall@k, NDCG@k and catalogue coverage.

Definitions (binary relevance; a user's *relevant* items are those they bought in the test
period; users without any are left out by the caller):

- ``precision@k``: hits in the top ``k`` over ``k``, averaged over users;
- ``recall@k``: hits in the top ``k`` over the user's relevant items, averaged;
- ``NDCG@k``: ``sum(hit_r / log2(r + 1))`` over ranks ``r = 1..k``, over its best possible
  value ``sum(1 / log2(r + 1), r = 1..min(k, relevant))``, averaged;
- ``coverage``: distinct items recommended to anyone over the items that could be.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def hits(recommended: np.ndarray, relevant) -> np.ndarray:
    """Boolean ``(n_users, k)``: whether each recommended item is relevant to its user.

    ``recommended`` holds item positions (``-1`` for none); ``relevant`` is a users x items
    sparse matrix, non-zero where relevant.
    """
    recommended = np.asarray(recommended)
    relevant = sp.csr_matrix(relevant)
    rows = np.repeat(np.arange(len(recommended)), recommended.shape[1])
    cols = recommended.ravel()
    found = np.zeros(cols.size, dtype=bool)
    real = cols >= 0
    found[real] = np.asarray(relevant[rows[real], cols[real]]).ravel() != 0
    return found.reshape(recommended.shape)


def _relevant_counts(relevant) -> np.ndarray:
    counts = np.diff(sp.csr_matrix(relevant).indptr)
    if (counts == 0).any():
        raise ValueError("every user needs at least one relevant item; leave the others out")
    return counts


def precision_per_user(recommended, relevant, k: int = 10) -> np.ndarray:
    """Each user's share of their top ``k`` that is relevant."""
    _relevant_counts(relevant)
    return hits(np.asarray(recommended)[:, :k], relevant).sum(axis=1) / k


def precision_at_k(recommended, relevant, k: int = 10) -> float:
    """Mean share of the top ``k`` that is relevant."""
    return float(precision_per_user(recommended, relevant, k).mean())


def ratio_interval(a: np.ndarray, b: np.ndarray, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % paired-bootstrap interval of ``mean(a) / mean(b)`` over the same users (two models'
    per-user scores on one check). NaN where ``b`` has no positive mean to divide by.

    >>> low, high = ratio_interval(np.array([0.2, 0.4, 0.3, 0.5]), np.array([0.1, 0.2, 0.1, 0.2]))
    >>> bool(1.0 < low < 2.33 < high)
    True
    """
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(a), (resamples, len(a)))
    top, bottom = a[rows].mean(axis=1), b[rows].mean(axis=1)
    keep = bottom > 0
    if not keep.any():
        return float("nan"), float("nan")
    low, high = np.percentile(top[keep] / bottom[keep], [2.5, 97.5])
    return float(low), float(high)


def recall_at_k(recommended, relevant, k: int = 10) -> float:
    """Mean share of each user's relevant items found in their top ``k``."""
    counts = _relevant_counts(relevant)
    return float((hits(np.asarray(recommended)[:, :k], relevant).sum(axis=1) / counts).mean())


def ndcg_at_k(recommended, relevant, k: int = 10) -> float:
    """Mean normalised discounted cumulative gain of the top ``k`` (binary relevance)."""
    counts = _relevant_counts(relevant)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    gain = hits(np.asarray(recommended)[:, :k], relevant) @ discount[: min(k, np.asarray(recommended).shape[1])]
    ideal = np.cumsum(discount)[np.minimum(counts, k) - 1]
    return float((gain / ideal).mean())


def coverage(recommended, n_items: int) -> float:
    """Distinct items recommended over ``n_items`` (those that could be recommended)."""
    recommended = np.asarray(recommended)
    return float(np.unique(recommended[recommended >= 0]).size / n_items) if n_items else 0.0


__all__ = ["hits", "precision_at_k", "precision_per_user", "ratio_interval", "recall_at_k", "ndcg_at_k", "coverage"]
