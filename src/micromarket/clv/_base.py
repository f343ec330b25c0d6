"""Maximum-likelihood machinery shared by the buy-till-you-die and spend models.

Each model supplies its parameter names, starting values and a function returning the
per-row log-likelihood and its gradient with respect to the parameters. The base class
validates and groups the input (identical rows are evaluated once and weighted by their
count), maximises the weighted log-likelihood over log-parameters with L-BFGS-B, and
derives standard errors from the Hessian (differences of the analytic gradient).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.base import BaseEstimator

from ..exceptions import NotFittedError, SchemaError


def to_frame(data: Any, columns: list[str], where: str) -> pd.DataFrame:
    """Accept pandas, Polars, Arrow or Ibis tables (or a dict of arrays) and return pandas with ``columns``."""
    if hasattr(data, "to_pandas") and not isinstance(data, pd.DataFrame):
        data = data.to_pandas()  # Arrow, Polars
    elif hasattr(data, "execute") and hasattr(data, "schema"):
        data = data.execute()  # Ibis
    elif isinstance(data, dict):
        data = pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(f"{where}: expected a table (pandas, Polars, Arrow or Ibis), got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise SchemaError(f"{where}: missing column(s) {missing}; the table has {list(data.columns)}")
    return data


def group_rows(values: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique rows of ``values`` with their total weight, and the index mapping back.

    Customer summaries repeat a lot (every one-time buyer of the same cohort is the same
    row), so the likelihood is evaluated once per distinct row. A hash group-by is
    linear in the rows, unlike sorting them.
    """
    # Factorise each column, combine the codes into one integer key, factorise that:
    # linear in the rows and faster than a multi-column group-by.
    key = np.zeros(len(values), dtype=np.int64)
    radix = 1
    for j in range(values.shape[1]):
        codes, uniques = pd.factorize(values[:, j])
        radix *= max(len(uniques), 1)
        if radix >= 2**62:  # too many combinations for one integer: group the columns directly
            frame = pd.DataFrame(values)
            key = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
            break
        key = key * max(len(uniques), 1) + codes
    inverse, _ = pd.factorize(key)
    k = int(inverse.max()) + 1 if len(inverse) else 0
    first = np.empty(k, dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse) - 1, -1, -1)  # reversed, so the first occurrence wins
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=float)
    return values[first], np.bincount(inverse, weights=w, minlength=k), inverse


def by_value(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of ``column`` and the index of each row's value, to compute costly terms once per value."""
    codes, uniques = pd.factorize(column)
    return np.asarray(uniques, dtype=float), codes


def per_pair(func, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``func(x, y)`` evaluated once per distinct (x, y) pair and gathered back to the rows.

    The costly hypergeometric terms of the models depend on the frequency and one time
    only, and customer summaries repeat those pairs many times.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 1000:
        return func(x, y)
    pairs, _, inverse = group_rows(np.column_stack([x, y]), None)
    return func(pairs[:, 0], pairs[:, 1])[inverse]


_WARM_START_ROWS = 50_000


class MaximumLikelihoodFitter(BaseEstimator):
    """Base of the CLV models; see the subclasses for the models themselves.

    Parameters
    ----------
    penalizer_coef : float
        L2 penalty on the parameters (0 = plain maximum likelihood, as in the papers).
    tol : float
        Convergence tolerance of the optimiser (projected gradient).
    max_iter : int
        Iteration limit of the optimiser.
    """

    _param_names: tuple[str, ...] = ()
    _columns: tuple[str, ...] = ()
    _analytic_gradient = True

    def __init__(self, penalizer_coef: float = 0.0, tol: float = 1e-8, max_iter: int = 2000):
        self.penalizer_coef = penalizer_coef
        self.tol = tol
        self.max_iter = max_iter

    # -- what subclasses provide ---------------------------------------------------------
    def _loglik(self, params: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row log-likelihood (n,) and gradient with respect to the parameters (n, k)."""
        raise NotImplementedError

    def _initial(self, data: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.ones(len(self._param_names))

    def _check(self, data: np.ndarray, where: str) -> None:
        """Raise SchemaError where the data break the model's assumptions."""

    # -- fitting -------------------------------------------------------------------------
    def _matrix(self, data: Any, where: str) -> tuple[np.ndarray, np.ndarray | None]:
        frame = to_frame(data, list(self._columns), where)
        values = frame[list(self._columns)].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            bad = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
            raise SchemaError(f"{where}: row {bad} has a missing or infinite value in {list(self._columns)}")
        weights = frame["weights"].to_numpy(dtype=float) if "weights" in frame.columns else None
        return values, weights

    def _arrays(self, data: Any) -> tuple[np.ndarray, ...]:
        """The model's columns of ``data`` as arrays, for predictions."""
        values, _ = self._matrix(data, type(self).__name__)
        return tuple(values[:, j] for j in range(values.shape[1]))

    def fit(self, data: Any) -> "MaximumLikelihoodFitter":
        """Estimate the parameters by maximum likelihood.

        Parameters
        ----------
        data : table
            With the model's columns (see the class) and optionally ``weights``.

        Returns
        -------
        self
        """
        where = f"{type(self).__name__}.fit"
        values, weights = self._matrix(data, where)
        self._check(values, where)
        unique, counts, _ = group_rows(values, weights)
        x0 = np.log(self._initial(unique, counts))
        design = self._prepare(unique, counts)
        theta = None
        if len(unique) > 4 * _WARM_START_ROWS:
            theta = self._fit_large(unique, counts, design, x0)
        converged = theta is not None
        if theta is None:
            result = self._optimise(design, counts.sum(), x0)
            theta, converged = result.x, bool(result.success)
        params = np.exp(theta)
        self.params_ = dict(zip(self._param_names, params.tolist()))
        self.log_likelihood_ = float(self._loglik_sums(params, design)[0])
        self.n_obs_ = float(counts.sum())
        self.converged_ = converged
        self.standard_errors_ = self._standard_errors(params, design)
        return self

    def _optimise(self, design: Any, total: float, x0: np.ndarray):
        """L-BFGS-B on the mean negative log-likelihood over log-parameters."""
        penalty = self.penalizer_coef

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(theta)
            ll, grad = self._loglik_sums(params, design)
            value = -ll + penalty * (params @ params)
            # Chain rule to log-parameters: d/dtheta = d/dparam * param.
            gradient = -grad * params + 2 * penalty * params * params
            return value / total, gradient / total

        # Bounds on the log-parameters (1e-9 .. 1e9) keep line searches from overflowing.
        return minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=[(-20.7, 20.7)] * len(x0),
                        options={"maxiter": self.max_iter, "ftol": 1e-15, "gtol": self.tol})

    def _fit_large(self, unique: np.ndarray, counts: np.ndarray, design: Any, x0: np.ndarray) -> np.ndarray | None:
        """Optimise on a sample, then take Newton steps on all the data with the sample's Hessian.

        The sample's optimum is within sampling error of the full one and its Hessian
        (per observation) within a few percent, so each full-data pass multiplies the
        error by about that few percent: a handful of passes instead of dozens of
        line-search evaluations. Returns ``None`` (the caller falls back to L-BFGS-B)
        if the steps do not settle.
        """
        # A random sample of customers (not of distinct rows): multinomial counts per row.
        drawn = np.random.default_rng(0).multinomial(_WARM_START_ROWS, counts / counts.sum())
        keep = np.flatnonzero(drawn)
        sample = self._prepare(unique[keep], drawn[keep].astype(float))
        theta = self._optimise(sample, float(_WARM_START_ROWS), x0).x
        hessian = self._theta_hessian(sample, float(_WARM_START_ROWS), theta)
        total = counts.sum()
        for _ in range(30):
            params = np.exp(theta)
            grad = -self._loglik_sums(params, design)[1] * params / total
            try:
                step = np.linalg.solve(hessian, grad)
            except np.linalg.LinAlgError:
                return None
            theta = theta - step
            if np.max(np.abs(step)) < 1e-7:  # parameters to 1e-7 relative
                return theta
        return None

    def _theta_hessian(self, design: Any, total: float, theta: np.ndarray) -> np.ndarray:
        """Hessian of the mean negative log-likelihood in log-parameters (differences of the gradient)."""
        def grad(t):
            params = np.exp(t)
            return -self._loglik_sums(params, design)[1] * params / total

        base, k = grad(theta), len(theta)
        hessian = np.empty((k, k))
        for j in range(k):
            step = theta.copy()
            step[j] += 1e-6
            hessian[:, j] = (grad(step) - base) / 1e-6
        return (hessian + hessian.T) / 2

    def _prepare(self, unique: np.ndarray, counts: np.ndarray) -> Any:
        """Whatever the likelihood needs, computed once per fit (default: the rows and their weights)."""
        return unique, counts

    def _loglik_sums(self, params: np.ndarray, design: Any) -> tuple[float, np.ndarray]:
        """Weighted total log-likelihood and its gradient (models may compute these directly)."""
        unique, counts = design
        ll, grad = self._loglik(params, unique)
        return float(counts @ ll), counts @ grad

    def _standard_errors(self, params: np.ndarray, design: Any) -> dict[str, float]:
        """Square roots of the diagonal of the inverse observed information (Hessian of -LL).

        The Hessian is the difference of the gradient, symmetrised: forward with a small
        step for analytic gradients; central with a larger step (1e-4 relative) for
        gradients that are themselves differences.
        """
        k = len(params)
        hessian = np.empty((k, k))
        base = self._loglik_sums(params, design)[1] if self._analytic_gradient else None
        for j in range(k):
            h = (1e-6 if self._analytic_gradient else 1e-4) * params[j]
            up = params.copy()
            up[j] += h
            if self._analytic_gradient:
                hessian[:, j] = (self._loglik_sums(up, design)[1] - base) / h
            else:
                down = params.copy()
                down[j] -= h
                hessian[:, j] = (self._loglik_sums(up, design)[1] - self._loglik_sums(down, design)[1]) / (2 * h)
        hessian = (hessian + hessian.T) / 2
        try:
            cov = np.linalg.inv(-hessian)
            se = np.sqrt(np.clip(np.diag(cov), 0, None))
        except np.linalg.LinAlgError:
            se = np.full(k, np.nan)
        return dict(zip(self._param_names, se.tolist()))

    # -- reading ---------------------------------------------------------------------------
    def _fitted(self) -> np.ndarray:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit first")
        return np.array([self.params_[n] for n in self._param_names])

    def summary(self) -> pd.DataFrame:
        """Parameters with standard errors and 95 % Wald intervals."""
        self._fitted()
        rows = []
        for name in self._param_names:
            est, se = self.params_[name], self.standard_errors_[name]
            rows.append({"parameter": name, "estimate": est, "std_error": se,
                         "lower_95": est - 1.959964 * se, "upper_95": est + 1.959964 * se})
        return pd.DataFrame(rows).set_index("parameter")
