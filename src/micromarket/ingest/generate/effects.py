"""What a campaign does to each generated customer: the planted truth that uplift models must find.

One rule serves the generator's past campaign (``spring-offer``) and the demo's own campaigns
(:mod:`micromarket.campaigns.simulate`), so that what a model learns from the first holds for the
next. A contacted customer who is alive:

* makes **one extra purchase** within the response window with probability
  ``base + slope x price sensitivity x depth / REFERENCE_DEPTH`` (the persona's pair in
  :data:`~.chain.PERSONAS`: the offer carries a coupon of ``depth`` off, and bargain hunters and
  budget families answer it in proportion to its depth; the past campaign's coupon was
  :data:`REFERENCE_DEPTH`, a message without a coupon moves only ``base``) plus
  :data:`LAPSING_BONUS` when they are lapsing: past :data:`LAPSING_GAPS` of their own mean time
  between purchases since their last one (a reminder brings them back);
* or, if they belong to the small group put off by contact (busy professionals who rarely buy on
  discount: :func:`put_off`), **skips** each purchase they would have made in the window with
  probability :data:`SKIP`.

The per-customer truth the models are judged against is the change in the probability of buying at
least once in the window (:func:`conversion_effect`), computed from the customer's purchase rate:
heavy buyers, who buy anyway, gain little from an extra purchase; the put-off lose. On the default
demo the average is 7.5 points on a 21.9 % base, a relative lift between the women's and the men's
e-mails in the Hillstrom experiment (visits 10.6 % to 15.1 % and 18.3 %), spread from about -33 to
+91 points (docs/concepts/demo-data.md). :func:`response` puts the pieces together for the
generator and the simulation alike.
"""

from __future__ import annotations

import numpy as np

from .chain import PERSONAS

#: The past campaign's coupon: the depth at which ``slope x price sensitivity`` is the price-sensitive
#: part of the response (twice as deep, twice that; no coupon, none of it).
REFERENCE_DEPTH = 0.10
#: Added to the extra-purchase probability of a customer who is lapsing at the contact.
LAPSING_BONUS = 0.30
#: A customer is lapsing when the days since their last purchase exceed this many of their mean
#: days between purchases (1 / purchase rate).
LAPSING_GAPS = 1.5
#: Chance that a customer put off by contact skips each purchase they would have made in the window.
SKIP = 0.6
#: Busy professionals at or below this price sensitivity are put off by contact.
PUT_OFF_SENSITIVITY = 0.15


def put_off(persona: np.ndarray, sensitivity: np.ndarray) -> np.ndarray:
    """Whether each customer is put off by marketing contact (about 6 % of the demo's customers)."""
    return (np.asarray(persona) == "Busy professionals") & (np.asarray(sensitivity) <= PUT_OFF_SENSITIVITY)


def lapsing(days_since_last: np.ndarray, rate_per_day: np.ndarray) -> np.ndarray:
    """Whether each customer has gone longer than :data:`LAPSING_GAPS` of their usual gap without buying."""
    rate = np.asarray(rate_per_day, dtype=float)
    return np.asarray(days_since_last, dtype=float) * rate > LAPSING_GAPS


def extra_purchase_probability(base: np.ndarray, slope: np.ndarray, sensitivity: np.ndarray,
                               is_lapsing: np.ndarray, is_put_off: np.ndarray, alive: np.ndarray,
                               depth: np.ndarray | float = REFERENCE_DEPTH) -> np.ndarray:
    """Probability that contact with a coupon of ``depth`` off brings one extra purchase (0 for the
    dead and the put off)."""
    coupon_response = slope * sensitivity * np.asarray(depth, dtype=float) / REFERENCE_DEPTH
    p = np.clip(base + coupon_response + LAPSING_BONUS * is_lapsing, 0.0, 1.0)
    return np.where(alive & ~is_put_off, p, 0.0)


def skip_probability(is_put_off: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Probability that contact cancels each purchase in the window (the put off, alive)."""
    return np.where(is_put_off & alive, SKIP, 0.0)


def baseline_conversion(rate_per_day: np.ndarray, days: float, alive: np.ndarray) -> np.ndarray:
    """P(at least one purchase in ``days``) without contact: ``1 - exp(-rate x days)`` if alive."""
    return 1.0 - np.exp(-np.where(alive, np.asarray(rate_per_day, dtype=float) * days, 0.0))


def conversion_effect(rate_per_day: np.ndarray, days: float, extra: np.ndarray, skip: np.ndarray,
                      alive: np.ndarray) -> np.ndarray:
    """The true change in P(at least one purchase in ``days``) that contact causes.

    Without contact an alive customer buys at least once with probability ``1 - exp(-rate x days)``;
    contacted, their purchases are thinned by ``skip`` and one extra comes with probability ``extra``.
    """
    expected = np.where(alive, np.asarray(rate_per_day, dtype=float) * days, 0.0)
    with_contact = 1.0 - np.exp(-expected * (1.0 - skip)) * (1.0 - extra)
    return with_contact - baseline_conversion(rate_per_day, days, alive)


def purchase_effect(rate_per_day: np.ndarray, days: float, extra: np.ndarray, skip: np.ndarray,
                    alive: np.ndarray) -> np.ndarray:
    """The true change in the expected number of purchases in ``days`` that contact causes."""
    expected = np.where(alive, np.asarray(rate_per_day, dtype=float) * days, 0.0)
    return extra - skip * expected


def response(persona: np.ndarray, sensitivity: np.ndarray, rate_per_day: np.ndarray, days_since_last: np.ndarray,
             alive: np.ndarray, days: float, depth: np.ndarray | float = REFERENCE_DEPTH) -> dict[str, np.ndarray]:
    """Each customer's planted response to a contact, from their persona (its ``uplift`` pair in
    :data:`~.chain.PERSONAS`), price sensitivity, purchase rate, days since their last purchase,
    whether they are alive at the contact, and the depth of the coupon it carries (the past
    campaign's, :data:`REFERENCE_DEPTH`, unless given).

    Returns
    -------
    dict
        ``lapsing`` (and alive), ``put_off``, ``extra_purchase_p``, ``skip_p``, and the true effects
        on buying within ``days`` (``true_uplift``) and on purchases (``true_extra_purchases``).
    """
    persona = np.asarray(persona).astype(str)
    # One lookup per persona, not per customer (the generator calls this for a million).
    names, which = np.unique(persona, return_inverse=True)
    pairs = np.array([PERSONAS[n]["uplift"] if n in PERSONAS else (0.0, 0.0) for n in names], dtype=float).reshape(-1, 2)
    base, slope = pairs[which, 0], pairs[which, 1]
    alive = np.asarray(alive, dtype=bool)
    is_lapsing = lapsing(days_since_last, rate_per_day) & alive
    is_put_off = put_off(persona, sensitivity)
    extra = extra_purchase_probability(base, slope, sensitivity, is_lapsing, is_put_off, alive, depth)
    skip = skip_probability(is_put_off, alive)
    return {"lapsing": is_lapsing, "put_off": is_put_off, "extra_purchase_p": extra, "skip_p": skip,
            "true_uplift": conversion_effect(rate_per_day, days, extra, skip, alive),
            "true_extra_purchases": purchase_effect(rate_per_day, days, extra, skip, alive)}


__all__ = ["LAPSING_BONUS", "LAPSING_GAPS", "REFERENCE_DEPTH", "SKIP", "PUT_OFF_SENSITIVITY", "baseline_conversion", "conversion_effect",
           "extra_purchase_probability", "lapsing", "purchase_effect", "put_off", "response", "skip_probability"]
