"""Simulate customer summaries from the models, for simulate-and-recover tests and benchmarks.

Each function draws customer-level rates from the model's mixing distributions, simulates
the purchase process over ``T``, and returns ``frequency``, ``recency``, ``T`` (and the true
latent values, prefixed ``true_``). Recency uses order statistics (the last of x uniform
purchase times is ``window * U^(1/x)``), so the cost is linear in customers, not purchases.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _as_T(T: float | np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()


def _last_of_uniform(x: np.ndarray, window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(len(x))
    return np.where(x > 0, window * u ** (1.0 / np.maximum(x, 1)), 0.0)


def _bg_family(n, T, r, alpha, a, b, rng, dropout_at_zero: bool) -> pd.DataFrame:
    T = _as_T(T, n)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    # Purchases until dropout: BG/NBD drops out after the K-th repeat purchase, K >= 1;
    # MBG/NBD may also drop out at once (K >= 0).
    k = rng.geometric(p) - (1 if dropout_at_zero else 0)
    potential = rng.poisson(lam * T)
    x = np.minimum(potential, k)
    # Given `potential` purchases uniform on (0, T), the x-th is T * Beta(x, potential - x + 1).
    recency = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(potential - x + 1, 1)), 0.0)
    return pd.DataFrame({"frequency": x, "recency": recency, "T": T, "true_lambda": lam, "true_p": p,
                         "true_alive": potential < k})


def simulate_bgnbd(n: int, T: float | np.ndarray, r: float, alpha: float, a: float, b: float,
                   seed: int | None = None) -> pd.DataFrame:
    """Customers from the BG/NBD model observed for ``T`` periods after their first purchase."""
    return _bg_family(n, T, r, alpha, a, b, np.random.default_rng(seed), dropout_at_zero=False)


def simulate_mbgnbd(n: int, T: float | np.ndarray, r: float, alpha: float, a: float, b: float,
                    seed: int | None = None) -> pd.DataFrame:
    """Customers from the MBG/NBD model (dropout possible right after the first purchase)."""
    return _bg_family(n, T, r, alpha, a, b, np.random.default_rng(seed), dropout_at_zero=True)


def simulate_pareto_nbd(n: int, T: float | np.ndarray, r: float, alpha: float, s: float, beta: float,
                        seed: int | None = None) -> pd.DataFrame:
    """Customers from the Pareto/NBD model: Poisson purchases while alive, exponential lifetimes."""
    rng = np.random.default_rng(seed)
    T = _as_T(T, n)
    lam = rng.gamma(r, 1 / alpha, n)
    mu = rng.gamma(s, 1 / beta, n)
    # A dropout rate of 0 (a small shape s draws many) is a lifetime without end, not an error.
    with np.errstate(divide="ignore", over="ignore"):
        lifetime = rng.exponential(1 / mu)
    window = np.minimum(lifetime, T)
    x = rng.poisson(lam * window)
    return pd.DataFrame({"frequency": x, "recency": _last_of_uniform(x, window, rng), "T": T,
                         "true_lambda": lam, "true_mu": mu, "true_alive": lifetime > T})


def simulate_gamma_gamma(frequency: np.ndarray, p: float, q: float, v: float, seed: int | None = None) -> pd.DataFrame:
    """Mean spend of each customer's ``frequency`` purchases under the Gamma-Gamma model."""
    rng = np.random.default_rng(seed)
    frequency = np.asarray(frequency)
    nu = rng.gamma(q, 1 / v, len(frequency))
    # The mean of x Gamma(p, nu) draws is Gamma(p x, nu x).
    mean = rng.gamma(p * np.maximum(frequency, 1), 1 / (nu * np.maximum(frequency, 1)))
    return pd.DataFrame({"frequency": frequency, "monetary_value": np.where(frequency > 0, mean, 0.0),
                         "true_mean_spend": p / nu})
