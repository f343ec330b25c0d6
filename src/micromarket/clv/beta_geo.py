"""BG/NBD: the beta-geometric / negative binomial distribution model of repeat buying.

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the easy
way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.special import digamma, expit, gammaln, hyp2f1, polygamma

from ..exceptions import SchemaError
from ._base import PurchaseModelFitter, by_value, per_pair


_RFM_RULES = (
    (lambda x, t_x, T: (x < 0) | (x != np.floor(x)), "frequency must be a whole number >= 0"),
    (lambda x, t_x, T: t_x < 0, "recency must be >= 0"),
    (lambda x, t_x, T: t_x > T + 1e-9, "recency must not exceed T"),
    (lambda x, t_x, T: (x == 0) & (t_x > 1e-9), "recency must be 0 where frequency is 0"),
    (lambda x, t_x, T: T < 0, "T must be >= 0"),
)
_CHECK_ROWS = 1 << 20  # checked a block at a time: the temporaries stay small and are reused


def check_rfm(data: np.ndarray, where: str) -> None:
    """Frequency a non-negative whole number, 0 <= recency <= T, recency 0 for one-time buyers."""
    for start in range(0, len(data), _CHECK_ROWS):
        block = data[start:start + _CHECK_ROWS]
        x, t_x, T = block[:, 0], block[:, 1], block[:, 2]
        for rule, text in _RFM_RULES:
            mask = rule(x, t_x, T)
            if mask.any():
                i = int(np.flatnonzero(mask)[0])
                raise SchemaError(f"{where}: row {start + i} (frequency={x[i]:g}, recency={t_x[i]:g}, T={T[i]:g}): {text}")


class BGDesign:
    """The rows of a BG-family fit, arranged once: per-frequency weights and the buyers' rows.

    ``extra`` is 0 for BG/NBD (dropout only after a repeat purchase, so only buyers have
    the dropout branch) and 1 for MBG/NBD (dropout possible at once: every row has it).
    """

    def __init__(self, data: np.ndarray, weights: np.ndarray, extra: int):
        self.extra = extra
        self.x, self.t_x, self.T, self.w = data[:, 0], data[:, 1], data[:, 2], weights
        self.xs, xi = by_value(self.x)
        # Summaries in whole days (or weeks of days) repeat few values of T and recency:
        # their logarithms are taken once per value and gathered.
        self.Ts, self.Ti = by_value(self.T)
        self.wx = np.bincount(xi, weights=weights, minlength=len(self.xs))  # total weight per frequency
        branch = self.x > 0 if extra == 0 else np.ones(len(self.x), dtype=bool)
        self.branch = np.flatnonzero(branch)
        self.xb, self.txb, self.Tb, self.wb = self.x[branch], self.t_x[branch], self.T[branch], weights[branch]
        self.Tbi = self.Ti[branch]
        self.txs, self.txi = by_value(self.txb)
        self.total = weights.sum()


def bg_sums(params: np.ndarray, d: BGDesign, hessian: bool = False) -> tuple:
    """Weighted log-likelihood of BG/NBD or MBG/NBD, its analytic gradient and, if asked, Hessian.

    Terms in the frequency alone are summed per distinct frequency; the two-branch term
    (alive at T, or dropped out after the last purchase) is evaluated where a row has the
    second branch, and reduces to ``-(r + x) log(alpha + T)`` elsewhere. That term is
    ``softplus(L)`` with ``L`` the log-odds of the dropout branch, so its second derivative
    is ``p L'' + p (1 - p) L' L'^T`` with ``p = expit(L)``.
    """
    r, alpha, a, b = params
    e = d.extra
    per_x = gammaln(r + d.xs) - gammaln(r) + gammaln(a + b) + gammaln(b + d.xs + e) - gammaln(b) - gammaln(a + b + d.xs + e)
    log_Ts = np.log(alpha + d.Ts)
    log_T = log_Ts[d.Ti]
    ll = d.wx @ per_x + d.total * r * np.log(alpha) - d.w @ ((r + d.x) * log_T)
    # Gradient of the part without the branch (every row: alive at T).
    g_r = d.wx @ (digamma(r + d.xs) - digamma(r)) + d.total * np.log(alpha) - d.w @ log_T
    inv_Ts = 1 / (alpha + d.Ts)
    g_alpha = d.total * r / alpha - d.w @ ((r + d.x) * inv_Ts[d.Ti])
    g_ab = d.wx @ (digamma(a + b) - digamma(a + b + d.xs + e))
    g_b = d.wx @ (digamma(b + d.xs + e) - digamma(b))
    # Where the dropout branch exists: log(A3 + A4) = log A3 + log1p(A4 / A3).
    xb, wb = d.xb, d.wb
    b_x = b + xb - 1 + e
    log_gap = log_Ts[d.Tbi] - np.log(alpha + d.txs)[d.txi]  # log((alpha + T) / (alpha + t_x))
    log_ratio = np.log(a) - np.log(b_x) + (r + xb) * log_gap
    ll += wb @ np.logaddexp(0.0, log_ratio)
    p4 = expit(log_ratio)  # share of the "dropped out after the last purchase" branch
    wp4 = wb * p4
    inv_txs = 1 / (alpha + d.txs)
    gap_slope = inv_Ts[d.Tbi] - inv_txs[d.txi]  # d log_gap / d alpha
    g_r += wp4 @ log_gap
    g_alpha += wp4 @ ((r + xb) * gap_slope)
    g_a = g_ab + wp4.sum() / a
    g_b = g_ab + g_b - wp4 @ (1 / b_x)
    gradient = np.array([g_r, g_alpha, g_a, g_b])
    if not hessian:
        return float(ll), gradient
    h = np.zeros((4, 4))
    # The part without the branch: trigamma terms per frequency, alpha terms per T.
    h[0, 0] = d.wx @ (polygamma(1, r + d.xs) - polygamma(1, r))
    h[0, 1] = d.total / alpha - d.w @ inv_Ts[d.Ti]
    h[1, 1] = -d.total * r / alpha**2 + d.w @ ((r + d.x) * inv_Ts[d.Ti] ** 2)
    h_ab = d.wx @ (polygamma(1, a + b) - polygamma(1, a + b + d.xs + e))
    h[2, 2] = h[2, 3] = h_ab
    h[3, 3] = h_ab + d.wx @ (polygamma(1, b + d.xs + e) - polygamma(1, b))
    # The branch: p L'' (L'' nonzero for r-alpha, alpha-alpha, a-a, b-b) ...
    h[0, 1] += wp4 @ gap_slope
    h[1, 1] += wp4 @ ((r + xb) * (inv_txs[d.txi] ** 2 - inv_Ts[d.Tbi] ** 2))
    h[2, 2] -= wp4.sum() / a**2
    h[3, 3] += wp4 @ (1 / b_x**2)
    # ... plus p (1 - p) L' L'^T, with L' = (log_gap, (r + x) gap_slope, 1 / a, -1 / b_x): the
    # weighted cross products one by one (a stacked matrix would cost more to build than to use).
    q = wp4 * (1 - p4)
    slopes = (log_gap, (r + xb) * gap_slope, None, -1 / b_x)  # None: the constant 1 / a
    weighted = [q * v if v is not None else None for v in slopes]
    for i in range(4):
        for j in range(i, 4):
            if slopes[i] is None and slopes[j] is None:
                h[i, j] += q.sum() / a**2
            elif slopes[i] is None or slopes[j] is None:
                h[i, j] += (weighted[j] if slopes[i] is None else weighted[i]).sum() / a
            else:
                h[i, j] += weighted[i] @ slopes[j]
    return float(ll), gradient, np.triu(h) + np.triu(h, 1).T


#: Above this first parameter SciPy's hyp2f1 loses digits (1e-8 relative at 1e4) and from about
#: 2e4 returns NaN: a rate shape ``r`` that large (rates nearly equal, on a tiny history) is met by
#: quadrature instead (see :func:`purchases_while_alive`).
HYP2F1_SHAPE_LIMIT = 1e4
#: Cells (rows x nodes) per block of the quadrature, so that its temporaries stay at 8 MB.
_QUADRATURE_CELLS = 1 << 20


def purchases_while_alive(n: np.ndarray, b: np.ndarray, a: float, base: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Expected purchases in ``t`` periods of a customer alive now whose purchase rate is
    Gamma(``n``, ``base``) and dropout probability Beta(``a``, ``b``) (arrays broadcast together).

    Given the rate lambda and dropout probability p, a customer buys ``(1 - exp(-lambda p t)) / p``
    times on average (FHL 2005, eq. 7); over lambda that is ``(1 - (1 + p t / base) ** -n) / p``, and
    over p, ``C / (a - 1) (1 - (base / (base + t)) ** n 2F1(n, b; C; t / (base + t)))`` with
    ``C = a + b - 1`` (eq. 10). SciPy's hyp2f1 gives it where ``n`` is at most
    :data:`HYP2F1_SHAPE_LIMIT`; elsewhere, and wherever that is not a number (``a`` = 1), the
    expectation over p is taken by Gaussian quadrature, with the integrand in ``log1p`` and
    ``expm1`` so that a shape in the millions costs no digits.
    """
    n, b, base, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (n, b, base, t)))
    out = np.full(n.shape, np.nan)
    easy = n <= HYP2F1_SHAPE_LIMIT
    out[easy] = _purchases_by_hyp2f1(n[easy], b[easy], a, base[easy], t[easy])
    redo = ~np.isfinite(out)
    if redo.any():
        out[redo] = _purchases_by_quadrature(n[redo], b[redo], a, t[redo] / base[redo])
    return out


def _purchases_by_hyp2f1(n: np.ndarray, b: np.ndarray, a: float, base: np.ndarray, t: np.ndarray) -> np.ndarray:
    c = a + b - 1
    # a = 1 divides by zero: the caller redoes what is not a number, so the warning would be noise.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.exp(n * (np.log(base) - np.log(base + t)))
        return c / (a - 1) * (1 - ratio * hyp2f1(n, b, c, t / (base + t)))


def _purchases_by_quadrature(n: np.ndarray, b: np.ndarray, a: float, c: np.ndarray) -> np.ndarray:
    """E over p ~ Beta(a, b) of ``(1 - (1 + p c) ** -n) / p`` by Gauss quadrature for the Beta
    distribution, one rule per distinct ``b`` (one per frequency).

    The integrand turns from about ``n c`` to ``1 / p`` around ``p = 1 / (n c)``, sharper the more
    purchases ``n c`` the horizon holds, so the rule takes ``2 sqrt(n c)`` nodes (32 to 1,000): about
    1e-8 relative up to 250,000 expected purchases in the horizon, against the same rule with
    three times the nodes and against adaptive quadrature (tests/clv/test_beta_geo.py).
    """
    nodes = int(np.clip(np.ceil(2 * np.sqrt(np.max(n * c))), 32, 1000))
    rows_per_block = max(1, _QUADRATURE_CELLS // nodes)
    out = np.empty(len(n))
    for value in np.unique(b):
        rows = np.flatnonzero(b == value)
        p, w = beta_quadrature(a, float(value), nodes)
        for start in range(0, len(rows), rows_per_block):
            block = rows[start:start + rows_per_block]
            out[block] = (-np.expm1(-n[block, None] * np.log1p(c[block, None] * p)) / p) @ w
    return out


def beta_quadrature(a: float, b: float, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) of Gaussian quadrature for the Beta(a, b) distribution.

    The eigenvalues of the Jacobi polynomials' recurrence matrix and the squared first components
    of its eigenvectors (Golub & Welsch 1969), mapped from (-1, 1) to (0, 1). SciPy's
    ``roots_jacobi`` multiplies its weights by ``2 ** (a + b - 1)``, which overflows from ``b``
    of about 1,000 (a customer's thousandth repeat purchase).

    >>> p, w = beta_quadrature(2.0, 3.0, 8)
    >>> round(float(w @ p), 12), round(float(w @ p**2), 12)  # a / (a + b), a (a + 1) / ((a + b)(a + b + 1))
    (0.4, 0.2)
    """
    al, be = b - 1.0, a - 1.0  # exponents of (1 - u) and (1 + u) on (-1, 1)
    k = np.arange(1.0, nodes)
    s = 2 * k + al + be
    diagonal = np.concatenate([[(be - al) / (al + be + 2)], (be**2 - al**2) / (s * (s + 2))])
    # The first off-diagonal in closed form: the general one is 0 / 0 where a + b = 1.
    first = 2 / (2 + al + be) * np.sqrt((al + 1) * (be + 1) / (al + be + 3))
    k, s = k[1:], s[1:]
    off = np.concatenate([[first], 2 / s * np.sqrt(k * (k + al) * (k + be) * (k + al + be) / ((s + 1) * (s - 1)))])
    u, vectors = eigh_tridiagonal(diagonal, off)
    return (1 + u) / 2, vectors[0] ** 2


class BetaGeoFitter(PurchaseModelFitter):
    """BG/NBD model (Fader, Hardie & Lee 2005).

    While alive a customer buys at rate lambda ~ Gamma(r, alpha); after each purchase
    they drop out with probability p ~ Beta(a, b).

    Data: ``frequency`` (repeat purchases), ``recency`` (time of the last repeat purchase
    since the first), ``T`` (time since the first purchase), optional ``weights``.

    Examples
    --------
    Recover the parameters of 5,000 simulated customers observed for a year of weeks:

    >>> from micromarket.clv.simulate import simulate_bgnbd
    >>> df = simulate_bgnbd(5000, 52.0, r=0.5, alpha=5.0, a=0.8, b=2.5, seed=1)
    >>> m = BetaGeoFitter().fit(df)
    >>> {name: round(value, 2) for name, value in m.params_.items()}
    {'r': 0.49, 'alpha': 4.72, 'a': 0.84, 'b': 2.66}
    """

    _param_names = ("r", "alpha", "a", "b")

    def _check(self, data: np.ndarray, weights: np.ndarray | None, where: str) -> None:
        check_rfm(data, where)

    def _initial(self, data: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.array([1.0, max(float(np.average(data[:, 2], weights=weights)), 1.0), 1.0, 1.0])

    _extra = 0

    def _prepare(self, unique: np.ndarray, counts: np.ndarray) -> BGDesign:
        return BGDesign(unique, counts, self._extra)

    def _loglik_sums(self, params: np.ndarray, design: BGDesign) -> tuple[float, np.ndarray]:
        return bg_sums(params, design)

    def _loglik_hessian(self, params: np.ndarray, design: BGDesign) -> tuple[float, np.ndarray, np.ndarray]:
        return bg_sums(params, design, hessian=True)

    # -- predictions -----------------------------------------------------------------------
    def probability_alive(self, data: Any) -> np.ndarray:
        """P(alive | frequency, recency, T) (FHL 2005, eq. 11)."""
        return self._p_alive(*self._arrays(data))

    def _p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._fitted()
        e = self._extra  # MBG/NBD: the dropout branch exists for every customer
        branch = x > 0 if e == 0 else np.ones(len(x), dtype=bool)
        log_odds = np.where(branch, np.log(a) - np.log(np.maximum(b + x - 1 + e, 1e-300))
                            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)), -np.inf)
        return expit(-log_odds)

    def expected_purchases_by_horizon(self, data: Any, horizons: Any, weights: Any = None) -> np.ndarray:
        """See :meth:`PurchaseModelFitter.expected_purchases_by_horizon` (FHL 2005, eq. 10; for
        MBG/NBD, Batislam et al. 2007)."""
        r, alpha, a, b = self._fitted()
        e = self._extra
        x, t_x, T = self._arrays(data)
        t = np.asarray(horizons, dtype=float).reshape(1, -1)

        def unconditional(xv, Tv):  # depends on frequency and T only
            # Alive now: the rate is Gamma(r + x, alpha + T), and p is Beta(a, b + x + e) (x
            # chances to drop out survived, one more with MBG/NBD's dropout at the first purchase).
            xv, Tv = xv[:, None], Tv[:, None]
            per_horizon = purchases_while_alive(r + xv, b + xv + e, a, alpha + Tv, t)
            return per_horizon if weights is None else per_horizon @ np.asarray(weights, dtype=float)

        alive = self._p_alive(x, t_x, T)
        return per_pair(unconditional, x, T) * (alive if weights is not None else alive[:, None])

    def expected_purchases_new_customer(self, t: float | np.ndarray) -> np.ndarray:
        """Expected purchases in ``t`` periods of a customer just acquired (FHL 2005, eq. 9)."""
        r, alpha, a, b = self._fitted()
        return purchases_while_alive(r, b, a, alpha, t)
