"""Maximum-likelihood machinery shared by the buy-till-you-die and spend models.

Each model supplies its parameter names, starting values, how it arranges the distinct rows
once per fit, and a function returning the weighted total log-likelihood and its gradient
with respect to the parameters. The base class validates and groups the input (identical
rows are evaluated once and weighted by their count), maximises the weighted
log-likelihood over log-parameters with L-BFGS-B, and derives standard errors from the
Hessian (analytic where the model has it, else differences of the gradient).
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from ..exceptions import SchemaError, check_fitted


def to_frame(data: Any, columns: list[str], where: str) -> pd.DataFrame:
    """Accept pandas, Arrow or Ibis tables (or a dict of arrays) and return pandas with ``columns``."""
    if hasattr(data, "to_pandas") and not isinstance(data, pd.DataFrame):
        data = data.to_pandas()  # Arrow (and any table with to_pandas)
    elif hasattr(data, "execute") and hasattr(data, "schema"):
        data = data.execute()  # Ibis
    elif isinstance(data, dict):
        data = pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(f"{where}: expected a table (pandas, Arrow or Ibis), got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise SchemaError(f"{where}: missing column(s) {missing}; the table has {list(data.columns)}")
    return data


def _row_keys(values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """One integer per row, equal exactly where the rows are equal, and each column's
    distinct values (``None`` if the columns have too many combinations of distinct values
    to number them in 62 bits).

    Each column is factorised (hashing, linear in the rows) and the codes combined in mixed
    radix: cheaper than a multi-column group-by.
    """
    key = np.zeros(len(values), dtype=np.int64)
    radix, distinct = 1, []
    for j in range(values.shape[1]):
        codes, uniques = pd.factorize(values[:, j])
        radix *= max(len(uniques), 1)
        if radix >= 2**62:
            return None
        key = key * max(len(uniques), 1) + codes
        distinct.append(np.asarray(uniques, dtype=float))
    return (key.astype(np.int32) if radix < 2**31 else key), distinct


def group_rows(values: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique rows of ``values`` with their total weight, and the index mapping back.

    Customer summaries repeat a lot (every one-time buyer of the same cohort is the same
    row), so the likelihood is evaluated once per distinct row. A hash group-by is
    linear in the rows, unlike sorting them.
    """
    keyed = _row_keys(values)
    if keyed is None:
        frame = pd.DataFrame(values)
        key = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    else:
        key = keyed[0]
    inverse, _ = pd.factorize(key)
    k = int(inverse.max()) + 1 if len(inverse) else 0
    first = np.empty(k, dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse) - 1, -1, -1)  # reversed, so the first occurrence wins
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=float)
    return values[first], np.bincount(inverse, weights=w, minlength=k), inverse


def distinct_rows(values: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows of ``values`` with their total weight, where no mapping back is needed (fitting).

    Unweighted, the combined row keys are sorted and counted (``np.unique``), which beats
    hashing millions of mostly distinct keys; the rows are decoded from the keys.
    """
    keyed = _row_keys(values) if weights is None else None
    if keyed is None:
        unique, counts, _ = group_rows(values, weights)
        return unique, counts
    keys, counts = np.unique(keyed[0], return_counts=True)
    keys = keys.astype(np.int64)
    columns = []
    for uniques in reversed(keyed[1]):  # undo the mixed radix, last column first
        columns.append(uniques[keys % len(uniques)])
        keys //= len(uniques)
    return np.column_stack(columns[::-1]), counts.astype(float)


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
_LOG_BOUND = 20.7  # log-parameters stay within 1e-9 .. 1e9
#: A fit that could gain less than this in log-likelihood is at its maximum for every statistical
#: purpose (a 95 % confidence interval is where it has fallen by 1.92).
_SETTLED_GAIN = 1e-3
#: L-BFGS-B stops once this many iterations together added less than _STALL_GAIN to the log-likelihood.
_STALL_ITERATIONS, _STALL_GAIN = 10, 1e-4
#: SciPy's status when a callback raised StopIteration.
_STOPPED_BY_CALLBACK = 99
#: Newton steps (in log-parameters) below which a difference gradient may be at its noise floor.
_DIFFERENCE_FLOOR = 1e-5

#: Fits on fewer distinct rows than this run BLAS on one thread: their dot products are too short
#: for threads to pay, and waking them on every call cost a third of the time (docs/benchmarks.md).
THREADED_BLAS_ROWS = 1_000_000


def blas_threads_for(rows: int) -> contextlib.AbstractContextManager:
    """One BLAS thread while working on fewer than :data:`THREADED_BLAS_ROWS` rows, else the default."""
    return threadpool_limits(1, "blas") if rows < THREADED_BLAS_ROWS else contextlib.nullcontext()


class StallStop:
    """L-BFGS-B callback that ends a fit once the log-likelihood has stopped rising.

    A gradient from differences is biased by about its step times the curvature, so on a ridge
    (a shape and its scale growing together) it never meets the gradient test, and the line
    searches go on finding gains of 1e-5 an iteration for hundreds of iterations (five minutes
    for 20,000 Pareto/NBD customers with nearly equal purchase rates). Once
    :data:`_STALL_ITERATIONS` iterations together have added less than :data:`_STALL_GAIN` to the
    total log-likelihood, a hundredth of what a confidence interval could notice, the fit stops
    there and counts as converged.
    """

    def __init__(self, total: float):
        self.total = total
        self.values: list[float] = []

    def __call__(self, intermediate_result) -> None:  # SciPy passes the result by this name
        self.values.append(float(intermediate_result.fun))
        if len(self.values) > _STALL_ITERATIONS:
            gained = (self.values[-_STALL_ITERATIONS - 1] - self.values[-1]) * self.total
            if gained < _STALL_GAIN:
                raise StopIteration


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

    Attributes
    ----------
    params_ : dict
        Maximum-likelihood estimates by name.
    standard_errors_ : dict
        Their standard errors (infinite where the log-likelihood does not curve down along one).
    covariance_ : ndarray
        Inverse observed information, parameters in ``_param_names`` order (for the error of
        a function of several parameters, such as a mean rate).
    log_likelihood_, n_obs_, converged_
        The maximum, the weighted customer count, and whether the fit settled.
    """

    _param_names: tuple[str, ...] = ()
    _columns: tuple[str, ...] = ()
    _analytic_gradient = True

    def __init__(self, penalizer_coef: float = 0.0, tol: float = 1e-8, max_iter: int = 2000):
        self.penalizer_coef = penalizer_coef
        self.tol = tol
        self.max_iter = max_iter

    # -- what subclasses provide ---------------------------------------------------------
    def _prepare(self, unique: np.ndarray, counts: np.ndarray) -> Any:
        """Whatever the likelihood needs from the distinct rows and their weights, computed once per fit."""
        raise NotImplementedError

    def _loglik_sums(self, params: np.ndarray, design: Any) -> tuple[float, np.ndarray]:
        """Weighted total log-likelihood and its gradient with respect to the parameters."""
        raise NotImplementedError

    def _initial(self, data: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.ones(len(self._param_names))

    def _check(self, data: np.ndarray, weights: np.ndarray | None, where: str) -> None:
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
        self._check(values, weights, where)
        unique, counts = distinct_rows(values, weights)
        with blas_threads_for(len(unique)):
            self._estimate(unique, counts)
        return self

    def _estimate(self, unique: np.ndarray, counts: np.ndarray) -> None:
        """Set the fitted attributes from the distinct rows and their counts."""
        x0 = np.log(self._initial(unique, counts))
        design = self._prepare(unique, counts)
        theta, at_optimum, result = None, None, None
        if len(unique) > 4 * _WARM_START_ROWS:
            theta, at_optimum = self._fit_large(unique, counts, design, x0)
        if theta is None:
            result = self._optimise(design, counts.sum(), x0)
            theta = result.x
        params = np.exp(theta)
        if at_optimum is None:
            at_optimum = self._loglik_hessian(params, design)
        if at_optimum is None:
            ll, grad = self._loglik_sums(params, design)
            hessian = self._difference_hessian(params, design)
        else:
            ll, grad, hessian = at_optimum
        self.params_ = dict(zip(self._param_names, params.tolist()))
        self.log_likelihood_ = float(ll)
        self.n_obs_ = float(counts.sum())
        # The Newton steps of the large-data path stop only once settled, and StallStop once the
        # log-likelihood has stopped rising; L-BFGS-B's line search also stops when it can no
        # longer improve at the precision of the gradient, which is the optimum too unless the
        # local quadratic model promises a real gain.
        settled = result is None or result.success or result.status == _STOPPED_BY_CALLBACK
        gain = 0.0 if settled else self._remaining_gain(params, grad, hessian)
        self.converged_ = gain < _SETTLED_GAIN
        if not self.converged_:
            self._warn_unconverged(result, gain)
        self.covariance_ = self._covariance(hessian)
        self.standard_errors_ = self._standard_errors(hessian)

    def _remaining_gain(self, params: np.ndarray, grad: np.ndarray, hessian: np.ndarray) -> float:
        """What the penalised log-likelihood could still gain within an e-fold change of the parameters.

        Its quadratic model in the log-parameters, maximised along each eigendirection of the
        curvature with steps of at most 1: where the curvature is a maximum's and the Newton
        step shorter, half the Newton decrement; along flat or upward-curving directions (a
        ridge running off towards a limit such as a, b -> 0) the slope, the gain over one unit
        at that slope (upward curvature there is below the precision of a Hessian from
        differences, so it is not extrapolated). Parameters held at a bound of the search are
        left out (the maximum is on the bound).
        """
        theta = np.log(params)
        free = np.abs(theta) < _LOG_BOUND - 1e-3
        slope = -self._objective(theta, 0.0, grad, 1.0)[1][free]
        curvature = self._theta_hessian(theta, grad, hessian, 1.0)[np.ix_(free, free)]
        values, vectors = np.linalg.eigh(curvature)
        along = np.abs(vectors.T @ slope)
        # The Newton step where it is shorter than 1 along a maximum's curvature, else 1.
        curved = values > along
        step = np.where(curved, along / np.where(curved, values, 1.0), 1.0)
        return float(np.sum(along * step - np.maximum(values, 0.0) * step**2 / 2))

    def _warn_unconverged(self, result, gain: float) -> None:
        """Say why the optimiser stopped short of the maximum, and what to do."""
        name, message = type(self).__name__, str(result.message).rstrip(": ")
        if result.nit >= self.max_iter:
            advice = f"raise max_iter (now {self.max_iter})"
        else:
            advice = ("the log-likelihood is nearly flat along some combination of parameters, e.g. a shape and its "
                      "scale growing together where customers barely differ in that rate; their ratio and the "
                      "predictions are estimated, the parameters along that direction are not: see standard_errors_")
        warnings.warn(f"{name}: the optimiser stopped ({message}) where the log-likelihood could still rise by about "
                      f"{gain:.3g}; {advice}", ConvergenceWarning, stacklevel=4)

    def _objective(self, theta: np.ndarray, ll: float, grad: np.ndarray, total: float) -> tuple[float, np.ndarray]:
        """Mean penalised negative log-likelihood and its gradient in the log-parameters."""
        params = np.exp(theta)
        value = -ll + self.penalizer_coef * (params @ params)
        # Chain rule to log-parameters: d/dtheta = d/dparam * param.
        gradient = -grad * params + 2 * self.penalizer_coef * params * params
        return value / total, gradient / total

    def _optimise(self, design: Any, total: float, x0: np.ndarray):
        """L-BFGS-B on the mean negative log-likelihood over log-parameters."""
        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            return self._objective(theta, *self._loglik_sums(np.exp(theta), design), total)

        # Bounds on the log-parameters (1e-9 .. 1e9) keep line searches from overflowing.
        return minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(x0),
                        callback=StallStop(total), options={"maxiter": self.max_iter, "ftol": 1e-15, "gtol": self.tol})

    def _fit_large(self, unique: np.ndarray, counts: np.ndarray, design: Any, x0: np.ndarray) -> tuple:
        """Optimise on a sample of customers, then take Newton steps on all the data.

        The sample's optimum is within sampling error of the full one. Models with an
        analytic Hessian take full Newton steps (quadratic convergence: two or three
        passes over the data, the last of which also gives the log-likelihood and the
        standard errors). The others step with the sample's Hessian (per observation,
        within a few percent of the full one, so each pass multiplies the error by about
        that few percent). Returns ``(theta, (ll, grad, hessian) or None)``, or
        ``(None, None)`` if the steps do not settle (the caller falls back to L-BFGS-B).
        """
        # A random sample of customers (not of distinct rows): multinomial counts per row.
        drawn = np.random.default_rng(0).multinomial(_WARM_START_ROWS, counts / counts.sum())
        keep = np.flatnonzero(drawn)
        sample = self._prepare(unique[keep], drawn[keep].astype(float))
        theta = self._optimise(sample, float(_WARM_START_ROWS), x0).x
        total = counts.sum()
        sample_hessian = None
        best, last_size = -np.inf, np.inf
        for _ in range(30):
            params = np.exp(theta)
            evaluated = self._loglik_hessian(params, design)
            if evaluated is not None:
                ll, grad, hess = evaluated
                if ll < best - 1e-12 * abs(best):  # a step made things worse: not near the optimum
                    return None, None
                best = ll
                hessian = self._theta_hessian(theta, grad, hess, total)
            else:
                ll, grad = self._loglik_sums(params, design)
                if sample_hessian is None:
                    sample_hessian = self._difference_theta_hessian(sample, float(_WARM_START_ROWS), theta)
                hessian = sample_hessian
            gradient = self._objective(theta, ll, grad, total)[1]
            try:
                step = np.linalg.solve(hessian, gradient)
            except np.linalg.LinAlgError:
                return None, None
            size = np.max(np.abs(step))
            if size < 1e-7:  # parameters to 1e-7 relative
                # With the analytic Hessian the evaluation is at the optimum: keep it.
                return (theta, evaluated) if evaluated is not None else (theta - step, None)
            if evaluated is None and size < _DIFFERENCE_FLOOR and size > last_size / 2:
                # A gradient from differences has a noise floor (rounding in a total over
                # millions of rows, divided by the difference step): steps that stop halving
                # below it are that noise, and the parameters are as exact as it can tell.
                return theta - step, None
            theta, last_size = theta - step, size
            if np.max(np.abs(theta)) > _LOG_BOUND:
                return None, None
        return None, None

    def _theta_hessian(self, theta: np.ndarray, grad: np.ndarray, hess: np.ndarray, total: float) -> np.ndarray:
        """Hessian of the mean penalised negative log-likelihood in log-parameters, from the analytic one."""
        params = np.exp(theta)
        # d2/dtheta_i dtheta_j = p_i p_j d2/dp_i dp_j + [i == j] p_i d/dp_i
        loglik = params[:, None] * hess * params[None, :] + np.diag(grad * params)
        return (-loglik + np.diag(4 * self.penalizer_coef * params * params)) / total

    def _difference_theta_hessian(self, design: Any, total: float, theta: np.ndarray) -> np.ndarray:
        """The same from :meth:`_difference_hessian`, for models without an analytic Hessian."""
        params = np.exp(theta)
        grad = self._loglik_sums(params, design)[1]
        return self._theta_hessian(theta, grad, self._difference_hessian(params, design), total)

    def _loglik_total(self, params: np.ndarray, design: Any) -> float:
        """Weighted total log-likelihood alone (models whose gradient is a difference make it cheaper)."""
        return self._loglik_sums(params, design)[0]

    def _loglik_hessian(self, params: np.ndarray, design: Any) -> tuple[float, np.ndarray, np.ndarray] | None:
        """Log-likelihood, gradient and Hessian in the parameters, for models that have the Hessian analytically."""
        return None

    def _difference_hessian(self, params: np.ndarray, design: Any) -> np.ndarray:
        """Hessian of the log-likelihood in the parameters from differences.

        Forward differences of the gradient (a small step) where it is analytic; otherwise
        central second differences of the total (1e-4 relative steps), which differencing a
        gradient that is itself a difference would make less accurate and dearer.
        """
        if not self._analytic_gradient:
            return self._second_differences(params, design)
        k = len(params)
        hessian = np.empty((k, k))
        base = self._loglik_sums(params, design)[1]
        for j in range(k):
            h = 1e-6 * params[j]
            up = params.copy()
            up[j] += h
            hessian[:, j] = (self._loglik_sums(up, design)[1] - base) / h
        return (hessian + hessian.T) / 2

    def _second_differences(self, params: np.ndarray, design: Any) -> np.ndarray:
        """Hessian from central second differences of :meth:`_loglik_total`."""
        k = len(params)
        steps = 1e-4 * params

        def total(*moves: tuple[int, float]) -> float:
            moved = params.copy()
            for j, sign in moves:
                moved[j] += sign * steps[j]
            return self._loglik_total(moved, design)

        centre = total()
        hessian = np.empty((k, k))
        for j in range(k):
            hessian[j, j] = (total((j, 1)) - 2 * centre + total((j, -1))) / steps[j] ** 2
            for i in range(j):
                hessian[i, j] = hessian[j, i] = (total((i, 1), (j, 1)) - total((i, 1), (j, -1))
                                                 - total((i, -1), (j, 1)) + total((i, -1), (j, -1))) / (4 * steps[i] * steps[j])
        return hessian

    @staticmethod
    def _covariance(hessian: np.ndarray) -> np.ndarray:
        """The inverse observed information (Hessian of -LL): the parameters' covariance (NaN if singular)."""
        try:
            return np.linalg.inv(-hessian)
        except np.linalg.LinAlgError:
            return np.full(hessian.shape, np.nan)

    def _standard_errors(self, hessian: np.ndarray) -> dict[str, float]:
        """Square roots of the diagonal of the inverse observed information (Hessian of -LL)."""
        variances = np.diag(self._covariance(hessian))
        # A variance below zero means the log-likelihood is flat or still rising along that
        # parameter (a ridge): the data do not pin it down, which an error of 0 would hide.
        se = np.where(np.isnan(variances), np.nan, np.sqrt(np.where(variances > 0, variances, np.inf)))
        return dict(zip(self._param_names, se.tolist()))

    # -- reading ---------------------------------------------------------------------------
    def _fitted(self) -> np.ndarray:
        check_fitted(self, ["params_"])
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


class PurchaseModelFitter(MaximumLikelihoodFitter):
    """Base of the purchase (buy-till-you-die) models: data ``frequency, recency, T``."""

    _columns = ("frequency", "recency", "T")

    def expected_purchases_by_horizon(self, data: Any, horizons: Any, weights: Any = None) -> np.ndarray:
        """Expected purchases in the next ``t`` periods for each ``t`` of ``horizons``, given
        each customer's history.

        Parameters
        ----------
        data : table
            ``frequency``, ``recency``, ``T``.
        horizons : sequence of float
            Periods ahead.
        weights : sequence of float, optional
            One per horizon: return the weighted sum over the horizons instead (what CLV
            needs), formed before the result is spread to customers, so no (customers x
            horizons) array is built.

        Returns
        -------
        ndarray
            (customers, horizons), or (customers,) with ``weights``. The terms that do not
            depend on the horizon are computed once.
        """
        raise NotImplementedError

    def expected_purchases(self, data: Any, t: float) -> np.ndarray:
        """Expected purchases in the next ``t`` periods given each customer's history."""
        return self.expected_purchases_by_horizon(data, [t], weights=[1.0])
