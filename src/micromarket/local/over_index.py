"""Over- and under-index tests of a unit's sales against the rest of the chain.

A unit (a store, a store cluster) sells ``x`` of an item out of ``n`` sales of the item's
group (its category and price tier, or the whole unit for a group). Under the null the item
takes the same share of its group everywhere, so ``x ~ Binomial(n, pi)`` with ``pi`` the
item's share of the group in the *rest* of the chain (leaving the unit out keeps a large
store from being compared with itself). Real purchases come in clusters (one customer buys
the same cheese every week), so counts vary more than binomially; the variance is scaled by
a dispersion factor estimated robustly from all cells, and the exact binomial tails are
taken at the effective counts ``x / phi`` and ``n / phi`` (quasi-binomial). The reference
share is itself estimated from the rest of the chain, whose sampling noise adds a factor
``1 + n / m`` to the variance (``m`` the rest's sales of the group, as in the two-sample test
of proportions); it matters when a unit is a large part of the chain, as a cluster is. Tests across
thousands of items and units are controlled for the false discovery rate (Benjamini and
Hochberg).

References
----------
Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate: a practical and
powerful approach to multiple testing. Journal of the Royal Statistical Society B 57(1), 289-300.
McCullagh, P. and Nelder, J. A. (1989). Generalized Linear Models, 2nd ed., section 4.5
(over-dispersion and the quasi-binomial model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betainc
from scipy.stats import chi2, false_discovery_control

#: Cells expected to sell fewer lines than this do not inform the dispersion estimate
#: (their Pearson residuals are too skewed to be near-normal).
MIN_EXPECTED_FOR_DISPERSION = 5.0


@dataclass
class IndexTests:
    """Results of :func:`index_tests`, arrays shaped like the counts."""

    expected: np.ndarray
    index: np.ndarray
    p_value: np.ndarray
    q_value: np.ndarray
    direction: np.ndarray  # +1 significantly over, -1 significantly under, 0 neither
    dispersion: float


def leave_out_share(x: np.ndarray, n: np.ndarray, total_x: np.ndarray, total_n: np.ndarray) -> np.ndarray:
    """The item's share of its group in the chain without the unit (NaN where nothing is left)."""
    rest_n = total_n - n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rest_n > 0, (total_x - x) / rest_n, np.nan)


def binomial_tails(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P(X >= x)`` and ``P(X <= x)`` for ``X ~ Binomial(n, p)``, for real-valued ``x`` and ``n``.

    Written with the regularised incomplete beta function, which extends the binomial to
    the non-integer effective counts of the quasi-binomial test.

    >>> upper, lower = binomial_tails(np.array([7.0]), np.array([10.0]), np.array([0.5]))
    >>> round(float(upper[0]), 4), round(float(lower[0]), 4)
    (0.1719, 0.9453)
    """
    x, n, p = np.broadcast_arrays(np.asarray(x, float), np.asarray(n, float), np.asarray(p, float))
    return _upper(x, n, p), _lower(x, n, p)


def _upper(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(x <= 0, 1.0, betainc(np.maximum(x, 1e-12), np.maximum(n - x + 1, 1e-12), p))


def _lower(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(x >= n, 1.0, betainc(np.maximum(n - x, 1e-12), x + 1, 1 - p))


def nearer_tail(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The smaller binomial tail of ``x`` (``P(X >= x)`` above the mean, ``P(X <= x)`` below it).

    The same as ``min(binomial_tails(x, n, p))`` where it matters (the tail on the far side
    of the mean is at least one half), for half the work.

    >>> float(nearer_tail(np.array([7.0]), np.array([10.0]), np.array([0.5]))[0]).__round__(4)
    0.1719
    """
    above = x >= n * p
    out = np.empty(x.shape)
    out[above] = _upper(x[above], n[above], p[above])
    out[~above] = _lower(x[~above], n[~above], p[~above])
    return out


def squared_residuals(x: np.ndarray, expected: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Squared Pearson residuals of the cells that inform the dispersion (see :func:`dispersion`)."""
    usable = np.isfinite(p) & (expected >= MIN_EXPECTED_FOR_DISPERSION) & (p < 1)
    return (x[usable] - expected[usable]) ** 2 / (expected[usable] * (1 - p[usable]))


def dispersion_of(z2: np.ndarray) -> float:
    """The dispersion from the usable cells' squared residuals (1 with fewer than 30 of them)."""
    if z2.size < 30:
        return 1.0
    return float(max(1.0, np.median(z2) / chi2.ppf(0.5, 1)))


def dispersion(x: np.ndarray, expected: np.ndarray, p: np.ndarray) -> float:
    """Robust quasi-binomial dispersion: the median squared Pearson residual over its null median.

    A minority of real local effects barely moves the median, so the estimate reflects the
    noise of the ordinary cells; it is never below 1 (no tests made more liberal than binomial).
    """
    return dispersion_of(squared_residuals(x, expected, p))


#: Cells per block of the tests: temporaries stay near 8 MB an array whatever the units x items.
BLOCK_CELLS = 2**20


def row_blocks(shape: tuple[int, int], block_cells: int = BLOCK_CELLS) -> list[slice]:
    """Slices of rows holding about ``block_cells`` cells each (at least one row)."""
    rows = max(1, block_cells // max(shape[1], 1))
    return [slice(start, start + rows) for start in range(0, shape[0], rows)]


def index_tests(x: np.ndarray, n: np.ndarray, p: np.ndarray, fdr: float, phi: float | None = None,
                reference_n: np.ndarray | None = None) -> IndexTests:
    """Index, two-sided quasi-binomial p-value and Benjamini-Hochberg q-value per cell.

    Parameters
    ----------
    x : array
        The unit's sales of the item (lines).
    n : array
        The unit's sales of the item's group.
    p : array
        The item's share of its group elsewhere (:func:`leave_out_share`); NaN cells are not tested.
    fdr : float
        Level at which discoveries are declared (``q_value <= fdr``).
    phi : float, optional
        Dispersion (default: estimated with :func:`dispersion`).
    reference_n : array, optional
        Sales of the group the reference share was estimated from (default: treated as exact).
    """
    reference = None if reference_n is None else np.broadcast_to(reference_n, x.shape)
    return blocked_index_tests(lambda rows: (x[rows], n[rows], p[rows], None if reference is None else reference[rows]),
                               x.shape, fdr, phi)


def blocked_index_tests(cells, shape: tuple[int, int], fdr: float, phi: float | None = None) -> IndexTests:
    """:func:`index_tests` with the cells made a block of rows at a time.

    Only the results are whole arrays; the counts, shares and every temporary exist a block at
    a time, so a level of hundreds of stores by tens of thousands of items holds a few arrays
    of its size, not dozens. The dispersion and the false discovery control still see every cell.

    Parameters
    ----------
    cells : callable
        ``cells(rows)`` gives ``(x, n, p, reference_n)`` for a slice of rows (``reference_n``
        may be None), as :func:`index_tests` takes them.
    shape : (units, items)
    fdr, phi : as :func:`index_tests`.
    """
    blocks = row_blocks(shape)
    if phi is None:
        z2 = [squared_residuals(x, n * p, p) for x, n, p, _ in map(cells, blocks)]
        phi = dispersion_of(np.concatenate(z2) if z2 else np.empty(0))
    expected, index = np.empty(shape), np.empty(shape)
    p_value = np.full(shape, np.nan)
    tested = np.zeros(shape, dtype=bool)
    for rows in blocks:
        x, n, p, reference_n = cells(rows)
        expected[rows] = n * p
        tested[rows] = np.isfinite(p) & (p > 0) & (p < 1) & (n > 0)
        p_value[rows] = _p_values(x, n, p, phi, reference_n, tested[rows])
        with np.errstate(invalid="ignore", divide="ignore"):
            index[rows] = np.where(expected[rows] > 0, 100 * x / expected[rows], np.nan)
    q_value = np.full(shape, np.nan)
    if tested.any():
        q_value[tested] = false_discovery_control(p_value[tested])
    direction = np.zeros(shape, dtype=np.int8)
    for rows in blocks:
        with np.errstate(invalid="ignore"):
            direction[rows] = np.where(q_value[rows] <= fdr, np.sign(index[rows] - 100), 0)
    return IndexTests(expected, index, p_value, q_value, direction, phi)


def _p_values(x: np.ndarray, n: np.ndarray, p: np.ndarray, phi: float, reference_n: np.ndarray | None,
              tested: np.ndarray) -> np.ndarray:
    """Two-sided quasi-binomial p-values of a block (NaN where not tested)."""
    scale = np.full(x.shape, phi)
    if reference_n is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = phi * (1 + n / reference_n)
    out = np.full(x.shape, np.nan)
    out[tested] = np.minimum(1.0, 2 * nearer_tail(x[tested] / scale[tested], n[tested] / scale[tested], p[tested]))
    return out


__all__ = ["IndexTests", "leave_out_share", "binomial_tails", "nearer_tail", "dispersion", "index_tests",
           "blocked_index_tests", "row_blocks"]
