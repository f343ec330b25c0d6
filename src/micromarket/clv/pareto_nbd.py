"""Pareto/NBD: purchases Poisson(lambda), lifetimes Exponential(mu), both heterogeneous (Gamma).

References
----------
Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987). Counting your customers: who are
they and what will they do next? Management Science 33(1), 1-24.
Fader, P. S. and Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD model and related
expressions. http://brucehardie.com/notes/009/
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, gammaln, hyp2f1

from ._base import PurchaseModelFitter, by_value, group_rows, per_pair
from .beta_geo import check_rfm


def _log_hyp2f1_c_eq_a_plus_1(a: np.ndarray, b: np.ndarray, z: np.ndarray) -> np.ndarray:
    """log 2F1(a, b; a + 1; z) for 0 <= z < 1, stable when ``a`` is large.

    Euler's transformation 2F1(a, b; c; z) = (1 - z)^(c - a - b) 2F1(c - a, c - b; c; z) turns it
    into (1 - z)^(1 - b) 2F1(1, a + 1 - b; a + 1; z), whose series is bounded by 1 / (1 - z)
    because a + 1 - b < a + 1; the direct series overflows for large frequencies. SciPy's
    ``hyp2f1`` is exact to about 1e-13 below z = 0.99, but above it returns NaN or loses digits
    (1e-4 in the log at z = 1 - 1e-6, checked against mpmath) and slows down a hundredfold.
    That happens when one scale parameter dwarfs the other (alpha or beta a hundred times the
    other plus T): those entries come from :func:`_log_hyp2f1_by_quadrature`.
    """
    a, b, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, z)))
    near_one = z >= _SCIPY_Z_LIMIT
    # SciPy is slow where it fails, so those entries are left out of its call, not overwritten.
    out = np.full(a.shape, np.nan)
    by_scipy = ~near_one if near_one.any() else ...
    with np.errstate(invalid="ignore", divide="ignore"):
        out[by_scipy] = _log_hyp2f1_by_scipy(a[by_scipy], b[by_scipy], z[by_scipy])
    redo = ~np.isfinite(out)
    if redo.any():
        out[redo] = _log_hyp2f1_by_quadrature(a[redo], b[redo], z[redo])
    return out


def _log_hyp2f1_by_scipy(a: np.ndarray, b: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The Euler-transformed form of :func:`_log_hyp2f1_c_eq_a_plus_1` by SciPy's hyp2f1 (for z < 0.99)."""
    return (1 - b) * np.log1p(-z) + np.log(hyp2f1(1.0, a + 1 - b, a + 1, z))


#: Above this z SciPy's hyp2f1 is not trusted (see :func:`_log_hyp2f1_c_eq_a_plus_1`).
_SCIPY_Z_LIMIT = 0.99
#: Gauss-Laguerre and Gauss-Legendre rules of :func:`_log_hyp2f1_by_quadrature`.
_TAIL_NODES, _TAIL_WEIGHTS = np.polynomial.laguerre.laggauss(24)
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(80)
# The Laguerre weight exp(-t) is divided out: the integrand carries it (see the function).
_LOG_TAIL_WEIGHTS, _LOG_WEIGHTS = np.log(_TAIL_WEIGHTS) + _TAIL_NODES, np.log(_WEIGHTS)
#: exp(-u) is below double precision beyond this u.
_U_END = 40.0


def _log_hyp2f1_by_quadrature(a: np.ndarray, b: np.ndarray, z: np.ndarray) -> np.ndarray:
    """log 2F1(a, b; a + 1; z) from Euler's integral, for any 0 <= z < 1.

    2F1(a, b; a + 1; z) = a * int_0^1 t^(a-1) (1 - z t)^(-b) dt, and t = exp(-u / a) makes it
    int_0^inf exp(-u) g(u) du with g(u) = (1 - z exp(-u / a))^(-b), which is (1 - z)^(-b) at
    u = 0 and falls off as a power of u beyond about u_c = a (1 - z) / b. The integral is
    taken in v = log u, where the integrand u exp(-u) g(u) is smooth on a scale of 1: from
    -inf to log u_c it tends to exp(v) g(0), which 24 Gauss-Laguerre nodes integrate; from
    log u_c to log 40 (where exp(-u) is below double precision) 80 Gauss-Legendre nodes do.
    Within 2e-10 of mpmath's value (relative, in the log) for a in [0.05, 5000], b in [0.05,
    2000] and 1 - z in [1e-14, 0.5] (tests/clv/test_hypergeometric.py); 64 nodes would give
    1e-8 where a and b are both below 1.
    """
    a, b, z = a[:, None], b[:, None], z[:, None]
    gap = 1 - z

    def log_integrand(v: np.ndarray) -> np.ndarray:
        # 1 - z exp(-u/a) written so that no digits cancel when z is near 1 and u / a small.
        u = np.exp(v)
        return v - u - b * np.log(gap - z * np.expm1(-u / a))

    start = np.log(np.minimum(a * gap / np.maximum(b, 1.0), 1.0))
    # Below start: v = start - t, and the Laguerre weight exp(-t) is part of exp(v).
    tail = _LOG_TAIL_WEIGHTS + log_integrand(start - _TAIL_NODES)
    half = (np.log(_U_END) - start) / 2
    body = _LOG_WEIGHTS + log_integrand(half * _NODES + start + half)
    # log of the sum of exp over both, by hand: scipy's logsumexp costs as much as the terms.
    top = np.maximum(tail.max(axis=1), body.max(axis=1))[:, None]
    sums = np.exp(tail - top).sum(axis=1) + half[:, 0] * np.exp(body - top).sum(axis=1)
    return top[:, 0] + np.log(sums)


def _log_f(params: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log of the antiderivative term F(y) of A0, so that A0 = F(t_x) - F(T)."""
    r, alpha, s, beta = params
    if alpha >= beta:
        big, small, b_param = alpha, beta, s + 1
    else:
        big, small, b_param = beta, alpha, r + x
    rsx = r + s + x
    q = big + y
    return _log_hyp2f1_c_eq_a_plus_1(rsx, b_param, (big - small) / q) - rsx * np.log(q)


def _log_difference(f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
    # log(exp(f1) - exp(f2)) with f1 >= f2 (equal when t_x == T).
    diff = np.clip(f2 - f1, None, 0.0)
    return f1 + np.log(-np.expm1(np.minimum(diff, -1e-300)))


def log_a0(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """log A0 of Fader & Hardie (2005, note 009): the drop-out-between-t_x-and-T term."""
    def log_f(xv, yv):
        return _log_f(params, xv, yv)

    return _log_difference(per_pair(log_f, x, t_x), per_pair(log_f, x, T))


class ParetoDesign:
    """Rows of a Pareto/NBD fit arranged once: the hypergeometric terms depend on (x, t_x)
    and on (x, T) only, so they are evaluated once per distinct pair and gathered."""

    def __init__(self, data: np.ndarray, weights: np.ndarray):
        self.x, self.t_x, self.T, self.w = data[:, 0], data[:, 1], data[:, 2], weights
        self.xs, self.xi = by_value(self.x)
        self.pairs_t, self.ti = _pairs(self.x, self.t_x)
        self.pairs_T, self.Ti = _pairs(self.x, self.T)
        self.gone = self.T > self.t_x


def _pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, counts, inverse = group_rows(np.column_stack([x, y]), None)
    return unique, inverse


def pareto_total(params: np.ndarray, d: ParetoDesign) -> float:
    """Weighted total log-likelihood of Pareto/NBD on a design."""
    r, alpha, s, beta = params
    head = (gammaln(r + d.xs) - gammaln(r))[d.xi] + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + d.x) * np.log(alpha + d.T) - s * np.log(beta + d.T)
    f1 = _log_f(params, d.pairs_t[:, 0], d.pairs_t[:, 1])[d.ti]
    f2 = _log_f(params, d.pairs_T[:, 0], d.pairs_T[:, 1])[d.Ti]
    gone = np.log(s) - np.log(r + s + d.x) + _log_difference(f1, f2)
    return float(d.w @ (head + np.logaddexp(alive, np.where(d.gone, gone, -np.inf))))


class ParetoNBDFitter(PurchaseModelFitter):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    While alive a customer buys at rate lambda ~ Gamma(r, alpha); their lifetime is
    Exponential(mu) with mu ~ Gamma(s, beta). Same data as :class:`BetaGeoFitter`.

    Examples
    --------
    5,000 simulated customers watched for a year of weeks: the mean purchase rate r / alpha
    (true 0.1 a week) and the share still alive (the simulation knows it) come back.

    >>> from micromarket.clv.simulate import simulate_pareto_nbd
    >>> df = simulate_pareto_nbd(5000, 52.0, r=0.5, alpha=5.0, s=0.8, beta=12.0, seed=1)
    >>> m = ParetoNBDFitter().fit(df)
    >>> round(m.params_["r"] / m.params_["alpha"], 3)
    0.098
    >>> round(float(m.probability_alive(df).mean()), 2), round(float(df["true_alive"].mean()), 2)
    (0.28, 0.27)
    """

    _param_names = ("r", "alpha", "s", "beta")
    _analytic_gradient = False

    def _check(self, data: np.ndarray, weights: np.ndarray | None, where: str) -> None:
        check_rfm(data, where)

    def _initial(self, data: np.ndarray, weights: np.ndarray) -> np.ndarray:
        mean_t = max(float(np.average(data[:, 2], weights=weights)), 1.0)
        return np.array([1.0, mean_t, 1.0, mean_t])

    def _values(self, params: np.ndarray, data: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = params
        x, t_x, T = data[:, 0], data[:, 1], data[:, 2]
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        gone = np.log(s) - np.log(r + s + x) + log_a0(params, x, t_x, T)
        return head + np.logaddexp(alive, np.where(T > t_x, gone, -np.inf))

    def _prepare(self, unique: np.ndarray, counts: np.ndarray) -> ParetoDesign:
        return ParetoDesign(unique, counts)

    def _loglik_sums(self, params: np.ndarray, design: ParetoDesign) -> tuple[float, np.ndarray]:
        # The gradient in the shape parameters r and s would need derivatives of the
        # hypergeometric function in its parameters; forward differences of the total, cheap
        # once the terms are evaluated per distinct (x, t) pair, stand in for all four. With
        # a step of 1e-6 relative their error (about 1e-6 of the curvature) moves the optimum
        # by far less than the parameters are reported to, at five evaluations where central
        # differences take nine.
        total = pareto_total(params, design)
        grad = np.empty(len(params))
        for j in range(len(params)):
            h = 1e-6 * params[j]
            up = params.copy()
            up[j] += h
            grad[j] = (pareto_total(up, design) - total) / h
        return total, grad

    def _loglik_total(self, params: np.ndarray, design: ParetoDesign) -> float:
        return pareto_total(params, design)

    def probability_alive(self, data: Any) -> np.ndarray:
        """P(alive | frequency, recency, T) (Fader & Hardie 2005, note 009, eq. 18)."""
        params = self._fitted()
        r, alpha, s, beta = params
        x, t_x, T = self._arrays(data)
        log_ratio = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
                     + log_a0(params, x, t_x, T))
        return expit(-np.where(T > t_x, log_ratio, -np.inf))

    def expected_purchases_by_horizon(self, data: Any, horizons: Any, weights: Any = None) -> np.ndarray:
        """See :meth:`PurchaseModelFitter.expected_purchases_by_horizon` (note 009, eq. 22)."""
        params = self._fitted()
        r, alpha, s, beta = params
        x, t_x, T = self._arrays(data)
        ll = self._values(params, np.column_stack([x, t_x, T]))
        first = (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
                 - (r + x) * np.log(alpha + T) - s * np.log(beta + T))
        second = np.log(r + x) + np.log(beta + T) - np.log(alpha + T)
        # first - ll <= 0 (the alive branch is part of the likelihood), so the product is finite.
        history = np.exp(first + second - ll)
        # The horizon enters through T only: once per distinct T.
        T_values, T_index = by_value(T)
        T_values, t = T_values[:, None], np.asarray(horizons, dtype=float).reshape(1, -1)
        growth = (1 - ((beta + T_values) / (beta + T_values + t)) ** (s - 1)) / (s - 1)
        if weights is not None:
            return history * (growth @ np.asarray(weights, dtype=float))[T_index]
        return history[:, None] * growth[T_index]

    def expected_purchases_new_customer(self, t: float | np.ndarray) -> np.ndarray:
        """Expected purchases in ``t`` periods of a customer just acquired."""
        r, alpha, s, beta = self._fitted()
        t = np.asarray(t, dtype=float)
        return r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
