"""Adaptive allocation between a campaign's message variants, in waves, by Thompson sampling.

A campaign with several variants is sent in waves. Before each wave, every variant's response
rate (a purchase in the window, a click: a binary response) has a Beta(1 + successes, 1 +
failures) posterior from all the responses seen so far, and the wave's traffic is split in
proportion to the posterior probability that each variant is the best one (Thompson sampling
in its batched form, also called randomised probability matching), mixed with a floor so that
every variant keeps at least ``floor`` of the traffic. The allocation is computed once per wave,
not per message: responses arrive in batches, and a wave is sent as one.

The bandit only splits *treated* customers between variants. The campaign's holdout is drawn
before, outside the bandit (:mod:`micromarket.campaigns.audience`), is never allocated by it,
and keeps measuring the campaign's effect against no message at all.

Because the allocation changes from wave to wave with the responses, a variant's plain response
rate is biased: a variant that did well is sent more in later waves, and if later waves differ
(other customers, another week) its mean is a mean over other people. Each customer's
probability of getting the variant they got is therefore recorded
(``campaign_sends.allocation_probability``), and :func:`ipw_rate` weights responses by its
inverse (Horvitz-Thompson), which is unbiased for every variant's rate over all the waves'
customers whatever the allocation did.

Everything here is pure: NumPy in, NumPy out. The send loop decides when a wave goes, counts
the responses and writes the ledger.

References
----------
.. [1] Russo, D., Van Roy, B., Kazerouni, A., Osband, I. and Wen, Z. (2018). "A Tutorial on
   Thompson Sampling." Foundations and Trends in Machine Learning 11(1), 1-96.
.. [2] Scott, S. L. (2010). "A modern Bayesian look at the multi-armed bandit." Applied
   Stochastic Models in Business and Industry 26(6), 639-658.
.. [3] Kalkanli, C. and Ozgur, A. (2021). "Batched Thompson Sampling." Advances in Neural
   Information Processing Systems 34.
.. [4] Horvitz, D. G. and Thompson, D. J. (1952). "A Generalization of Sampling Without
   Replacement From a Finite Universe." Journal of the American Statistical Association 47(260),
   663-685.
.. [5] Hadad, V., Hirshberg, D. A., Zhan, R., Wager, S. and Athey, S. (2021). "Confidence
   intervals for policy evaluation in adaptive experiments." PNAS 118(15), e2014602118.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from ..exceptions import SchemaError

#: Posterior draws behind each allocation: a probability's Monte Carlo error is at most 0.005.
DRAWS = 10_000
#: Hex digits of the customer's bucket, as in :func:`micromarket.campaigns.audience.bucket`.
BUCKET_DIGITS = 8
_SCALE = 16**BUCKET_DIGITS
#: Slack allowed when checking that probabilities sum to one, or that ``floor * k <= 1``.
_TOLERANCE = 1e-9


# -- the model ---------------------------------------------------------------------------
def posterior(successes, trials) -> tuple[np.ndarray, np.ndarray]:
    """Each variant's Beta posterior of its response rate, from a uniform Beta(1, 1) prior.

    Parameters
    ----------
    successes, trials : array of shape (k,)
        Per variant, the treated customers who responded and all the treated customers whose
        response is known (their window has closed), over every wave so far; ``k >= 2``.

    Returns
    -------
    alpha, beta : arrays of shape (k,)
        ``1 + successes`` and ``1 + trials - successes``; the posterior mean is
        ``alpha / (alpha + beta)``.

    Examples
    --------
    >>> posterior([3, 0], [10, 0])
    (array([4., 1.]), array([8., 1.]))
    """
    s, n = _counts(successes, trials)
    return 1.0 + s, 1.0 + n - s


def probability_best(successes, trials, draws: int = DRAWS, seed: int | Sequence[int] = 0) -> np.ndarray:
    """The posterior probability that each variant has the highest response rate.

    Estimated from ``draws`` joint draws of the variants' Beta posteriors (:func:`posterior`),
    seeded, so the same counts and seed give the same probabilities. Variants with the same
    counts are exchangeable and get exactly the same probability (so a first wave, without any
    response, is split evenly).

    Parameters
    ----------
    successes, trials : array of shape (k,)
        As in :func:`posterior`.
    draws : int
        Posterior draws; the Monte Carlo standard error is ``sqrt(p (1 - p) / draws)``.
    seed : int or sequence of int
        Seed of the draws, for instance ``(campaign_seed, wave)``.

    Returns
    -------
    array of shape (k,)
        Probabilities summing to 1.
    """
    alpha, beta = posterior(successes, trials)
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise SchemaError(f"draws={draws!r}: expected a whole number of posterior draws >= 1")
    k = len(alpha)
    rng = np.random.default_rng(seed)
    samples = rng.beta(alpha, beta, size=(draws, k))
    wins = np.bincount(samples.argmax(axis=1), minlength=k) / draws
    # Average over variants with identical posteriors: their true probabilities are equal.
    _, group = np.unique(np.column_stack([alpha, beta]), axis=0, return_inverse=True)
    group = group.ravel()
    return np.bincount(group, weights=wins)[group] / np.bincount(group)[group]


def allocation(successes, trials, floor: float, draws: int = DRAWS, seed: int | Sequence[int] = 0) -> np.ndarray:
    """The share of a wave's treated customers that each variant gets.

    ``floor + (1 - k floor) P(variant is best)``: Thompson sampling's probability matching
    (:func:`probability_best`) mixed with an even floor, so that every variant keeps at least
    ``floor`` of the traffic, and so a positive probability of being chosen, which the
    inverse-propensity estimate (:func:`ipw_rate`) needs, and a chance to recover if its early
    responses were unlucky. Computed once per wave from every response seen so far (batched
    Thompson sampling [3]_). The holdout is not part of it: these shares split the treated
    customers only.

    Parameters
    ----------
    successes, trials : array of shape (k,)
        Per variant, responders and customers with a known response, over all earlier waves
        (zeros before the first wave); ``k >= 2``.
    floor : float
        Least share of each variant, in ``[0, 1 / k]``; ``1 / k`` is a fixed even split. A floor
        of 0 lets a variant's share fall to 0, and then no estimate of it is unbiased.
    draws, seed
        As in :func:`probability_best`; pass a seed that changes with the wave.

    Returns
    -------
    array of shape (k,)
        Shares summing to 1, each at least ``floor``.

    Raises
    ------
    SchemaError
        For fewer than two variants, negative counts, more successes than trials, or a floor
        outside ``[0, 1 / k]``.

    References
    ----------
    .. [1] Russo, D. et al. (2018). "A Tutorial on Thompson Sampling." Foundations and Trends in
       Machine Learning 11(1), 1-96.
    .. [2] Scott, S. L. (2010). "A modern Bayesian look at the multi-armed bandit." Applied
       Stochastic Models in Business and Industry 26(6), 639-658.
    .. [3] Kalkanli, C. and Ozgur, A. (2021). "Batched Thompson Sampling." NeurIPS 34.

    Examples
    --------
    Before any response the split is even; after one, the clear winner takes all but the floors:

    >>> allocation([0, 0, 0], [0, 0, 0], floor=0.05)
    array([0.33333333, 0.33333333, 0.33333333])
    >>> allocation([40, 60, 100], [2000, 2000, 2000], floor=0.05, seed=1).round(2)
    array([0.05, 0.05, 0.9 ])
    """
    s, _ = _counts(successes, trials)
    k = len(s)
    if isinstance(floor, bool) or not isinstance(floor, (int, float, np.floating)) or not np.isfinite(floor) \
            or floor < 0 or floor * k > 1 + _TOLERANCE:
        raise SchemaError(f"floor={floor!r}: expected a share in [0, 1/k] = [0, {1 / k:.4g}] for k={k} variants "
                          "(floor * k <= 1)")
    best = probability_best(successes, trials, draws=draws, seed=seed)
    shares = floor + max(0.0, 1.0 - k * floor) * best
    return shares / shares.sum()


# -- assignment ---------------------------------------------------------------------------
def assign_wave(customer_ids, probabilities, seed: int | str, wave: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw each treated customer's variant for one wave.

    A customer's draw is a hash, not a random number generator: their bucket is the first eight
    hex digits of SHA-256 over ``"bandit:{seed}:{wave}:{customer_id}"`` (the same digest as
    ``audience.bucket(f"bandit:{seed}:{wave}", customer_id)``, so an engine can compute it too),
    read as a number in ``[0, 1)``, and the variant is the one whose slice of the cumulative
    probabilities holds it. So the draw is deterministic given the seed and the wave, does not
    depend on the order of the ids nor on who else is in the wave, differs from wave to wave,
    and is independent of the holdout's and the global control's hashes (other salts).

    Parameters
    ----------
    customer_ids : array of shape (n,)
        The wave's treated customers (never the holdout), each once; ids are hashed as text.
    probabilities : array of shape (k,)
        The wave's allocation (:func:`allocation`): non-negative, summing to 1.
    seed : int or str
        The campaign's seed.
    wave : int
        The wave's number, from 1 (``campaign_sends.wave``).

    Returns
    -------
    chosen : int array of shape (n,)
        Each customer's variant, an index into ``probabilities``.
    probability : float array of shape (n,)
        ``probabilities[chosen]``: the probability with which the customer got that variant, to
        record in ``campaign_sends.allocation_probability`` for :func:`ipw_rate`. (The hash
        realises it to within 2**-32.)

    Examples
    --------
    >>> chosen, probability = assign_wave(["C1", "C2", "C3", "C4"], [0.25, 0.75], seed=5, wave=2)
    >>> chosen, probability
    (array([1, 0, 1, 1]), array([0.75, 0.25, 0.75, 0.75]))
    """
    p = _probabilities(probabilities)
    if isinstance(wave, bool) or not isinstance(wave, (int, np.integer)) or wave < 1:
        raise SchemaError(f"wave={wave!r}: expected the wave's number, a whole number >= 1")
    ids = np.asarray(customer_ids)
    if ids.ndim != 1:
        raise SchemaError(f"customer_ids: expected a flat array of ids, got shape {ids.shape}")
    chosen = _choose(_buckets(ids, f"bandit:{seed}:{wave}"), p)
    return chosen, p[chosen]


def _buckets(ids: np.ndarray, salt: str) -> np.ndarray:
    """Each id's bucket under ``salt``, an integer in ``[0, 16**BUCKET_DIGITS)``."""
    return np.fromiter(
        (int(hashlib.sha256(f"{salt}:{i}".encode()).hexdigest()[:BUCKET_DIGITS], 16) for i in ids.tolist()),
        dtype=np.int64, count=len(ids))


def _choose(buckets: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The variant whose slice of ``[0, 16**BUCKET_DIGITS)`` holds each bucket."""
    cuts = np.minimum(np.rint(np.cumsum(p) * _SCALE), _SCALE).astype(np.int64)
    cuts[-1] = _SCALE
    return np.searchsorted(cuts, buckets, side="right").astype(np.int64)


# -- measurement ---------------------------------------------------------------------------
def ipw_rate(responses, chosen, probabilities, k: int, *, normalised: bool = False) -> np.ndarray:
    """Each variant's response rate over all the customers of all waves, by inverse propensity weighting.

    The Horvitz-Thompson estimate [4]_: ``sum(y_i / p_i for customers i who got j) / n``, where
    ``p_i`` is the probability with which customer ``i`` got their variant and ``n`` counts every
    treated customer of every wave. Each wave's probabilities depend on earlier responses only,
    so given the past a customer gets ``j`` with probability ``p_i`` and ``E[1{j} y / p_i] = y``:
    the estimate is unbiased for the rate the variant would have had if all ``n`` customers had
    got it [5]_, where the per-variant mean is not (it over-weights the waves in which a variant
    was sent most). The holdout is not in it: compare the estimate with the holdout's rate for
    the campaign's effect.

    Parameters
    ----------
    responses : array of shape (n,)
        Each treated customer's response (1 or 0; any number, such as revenue, works too).
    chosen : int array of shape (n,)
        Each customer's variant index (:func:`assign_wave`).
    probabilities : array of shape (n,)
        Each customer's probability of that variant (``allocation_probability``), in ``(0, 1]``.
    k : int
        Number of variants (``k >= 2``).
    normalised : bool
        Divide by the sum of the weights instead of ``n`` (the Hajek estimate): a smaller variance,
        a bias of order ``1 / n``, and NaN for a variant nobody got.

    Returns
    -------
    array of shape (k,)

    References
    ----------
    .. [4] Horvitz, D. G. and Thompson, D. J. (1952). "A Generalization of Sampling Without
       Replacement From a Finite Universe." Journal of the American Statistical Association
       47(260), 663-685.
    .. [5] Hadad, V. et al. (2021). "Confidence intervals for policy evaluation in adaptive
       experiments." PNAS 118(15), e2014602118.

    Examples
    --------
    >>> ipw_rate([1, 0, 0, 1], chosen=[0, 0, 1, 1], probabilities=[0.5, 0.5, 0.25, 0.75], k=2)
    array([0.5       , 0.33333333])
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise SchemaError(f"k={k!r}: a bandit needs two variants or more")
    y = np.asarray(responses, dtype=float)
    c = np.asarray(chosen)
    p = np.asarray(probabilities, dtype=float)
    if y.ndim != 1 or c.shape != y.shape or p.shape != y.shape:
        raise SchemaError(f"responses, chosen and probabilities: expected three flat arrays of one length, got shapes "
                          f"{y.shape}, {c.shape} and {p.shape}")
    if len(y) == 0:
        raise SchemaError("responses: no customers to estimate from")
    if not np.isfinite(y).all():
        raise SchemaError("responses: expected finite numbers")
    if not np.issubdtype(c.dtype, np.integer) or c.min() < 0 or c.max() >= k:
        raise SchemaError(f"chosen: expected variant indices in 0..{k - 1}")
    if not np.isfinite(p).all() or p.min() <= 0 or p.max() > 1:
        bad = p[~(np.isfinite(p) & (p > 0) & (p <= 1))][0]
        raise SchemaError(f"probabilities: expected each customer's probability in (0, 1], got {bad!r} (a variant "
                          "sent with probability 0 cannot be weighted: keep a floor above 0)")
    total = np.bincount(c, weights=y / p, minlength=k)
    if not normalised:
        return total / len(y)
    weight = np.bincount(c, weights=1 / p, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / weight


# -- simulation ---------------------------------------------------------------------------
def simulate(rates, wave_sizes, floor: float, seed: int, draws: int = DRAWS) -> dict[str, np.ndarray]:
    """Run the bandit on simulated responses with known rates, beside a fixed even split.

    Wave ``w`` has ``wave_sizes[w - 1]`` new customers (ids ``"sim{w}-{i}"``). Its allocation
    comes from every earlier wave's responses (:func:`allocation`, seeded by ``(seed, w)``),
    customers are assigned by :func:`assign_wave`, and each responds to the variant they got
    with that variant's rate in that wave. The even split assigns the same customers by the
    same hashes with shares ``1 / k``, so both face the same luck.

    Parameters
    ----------
    rates : array of shape (k,) or (waves, k)
        True response rates per variant, the same in every wave or one row per wave (a
        population that drifts from wave to wave).
    wave_sizes : sequence of int
        Treated customers per wave.
    floor : float
        As in :func:`allocation`.
    seed : int
        Seed of the allocations, the assignment hashes and the responses (>= 0).
    draws : int
        Posterior draws per allocation.

    Returns
    -------
    dict of arrays
        ``allocations`` (waves, k): each wave's shares; ``counts`` and ``successes`` (waves, k):
        customers and responders per variant; ``best_share`` (waves,): the share of the wave's
        customers sent its best variant; ``regret`` and ``even_regret`` (waves,): cumulative
        expected regret after each wave, ``sum(best rate - rate of the variant sent)`` over the
        customers, of the bandit and of the even split; and per customer of the bandit
        ``wave``, ``chosen``, ``probability`` and ``response`` (for :func:`ipw_rate`).

    Examples
    --------
    >>> run = simulate([0.02, 0.05], [2000, 2000, 2000], floor=0.05, seed=3)
    >>> bool(run["regret"][-1] < run["even_regret"][-1])
    True
    """
    sizes = np.asarray(wave_sizes)
    if sizes.ndim != 1 or len(sizes) == 0 or not np.issubdtype(sizes.dtype, np.integer) or sizes.min() < 1:
        raise SchemaError(f"wave_sizes={wave_sizes!r}: expected one whole number >= 1 per wave")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SchemaError(f"seed={seed!r}: expected a whole number >= 0")
    table = np.asarray(rates, dtype=float)
    table = np.tile(table, (len(sizes), 1)) if table.ndim == 1 else table
    if table.shape[0] != len(sizes) or table.ndim != 2 or table.shape[1] < 2:
        raise SchemaError(f"rates: expected k >= 2 rates, or one row of k rates per wave ({len(sizes)}), "
                          f"got shape {np.shape(rates)}")
    if not np.isfinite(table).all() or table.min() < 0 or table.max() > 1:
        raise SchemaError("rates: expected probabilities in [0, 1]")
    k = table.shape[1]
    rng = np.random.default_rng(seed)
    successes, trials = np.zeros(k), np.zeros(k)
    out = {name: np.zeros((len(sizes), k)) for name in ("allocations", "counts", "successes")}
    regret, even_regret, best_share = (np.zeros(len(sizes)) for _ in range(3))
    per_customer = []
    even = np.full(k, 1.0 / k)
    for w, (size, r) in enumerate(zip(sizes.tolist(), table), start=1):
        p = allocation(successes, trials, floor, draws=draws, seed=(seed, w))
        buckets = _buckets(np.array([f"sim{w}-{i}" for i in range(size)]), f"bandit:{seed}:{w}")
        chosen, split = _choose(buckets, p), _choose(buckets, even)
        response = (rng.random(size) < r[chosen]).astype(np.int8)
        counts = np.bincount(chosen, minlength=k)
        wins = np.bincount(chosen, weights=response, minlength=k)
        successes, trials = successes + wins, trials + counts
        out["allocations"][w - 1], out["counts"][w - 1], out["successes"][w - 1] = p, counts, wins
        regret[w - 1] = (r.max() - r[chosen]).sum()
        even_regret[w - 1] = (r.max() - r[split]).sum()
        best_share[w - 1] = counts[r.argmax()] / size
        per_customer.append((np.full(size, w), chosen, p[chosen], response))
    columns = [np.concatenate(c) for c in zip(*per_customer)]
    return dict(out, best_share=best_share, regret=np.cumsum(regret), even_regret=np.cumsum(even_regret),
                **dict(zip(("wave", "chosen", "probability", "response"), columns)))


# -- validation -----------------------------------------------------------------------------
def _counts(successes, trials) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if s.ndim != 1 or n.shape != s.shape:
        raise SchemaError(f"successes and trials: expected two flat arrays with one count per variant, got shapes "
                          f"{s.shape} and {n.shape}")
    if len(s) < 2:
        raise SchemaError(f"successes: {len(s)} variant(s); a bandit needs two variants or more (k >= 2)")
    if not (np.isfinite(s).all() and np.isfinite(n).all()) or s.min() < 0 or n.min() < 0:
        raise SchemaError(f"successes={s.tolist()}, trials={n.tolist()}: counts must be finite and >= 0")
    if (s > n).any():
        raise SchemaError(f"successes={s.tolist()}, trials={n.tolist()}: a variant has more successes than trials")
    return s, n


def _probabilities(probabilities) -> np.ndarray:
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 1 or len(p) < 2:
        raise SchemaError(f"probabilities: expected one share per variant and two variants or more, got shape {p.shape}")
    if not np.isfinite(p).all() or p.min() < 0 or abs(p.sum() - 1) > _TOLERANCE:
        raise SchemaError(f"probabilities={p.tolist()}: expected shares >= 0 summing to 1")
    return p


__all__ = ["allocation", "assign_wave", "ipw_rate", "posterior", "probability_best", "simulate"]
