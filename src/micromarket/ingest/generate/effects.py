"""What a campaign does to each generated customer: the planted truth that uplift models must find.

One rule serves the generator's past campaign (``spring-offer``) and the demo's own campaigns
(:mod:`micromarket.campaigns.simulate`), so that what a model learns from the first holds for the
next. A contacted customer who is alive:

* makes **one extra purchase** within the response window with probability
  ``base + slope x price sensitivity`` (the persona's pair in :data:`~.chain.PERSONAS`: the offer
  carries a discount, and bargain hunters and budget families answer it) plus
  :data:`LAPSING_BONUS` when they are lapsing: past :data:`LAPSING_GAPS` of their own mean time
  between purchases since their last one (a reminder brings them back);
* or, if they belong to the small group put off by contact (busy professionals who rarely buy on
  discount: :func:`put_off`), **skips** each purchase they would have made in the window with
  probability :data:`SKIP`.

The per-customer truth the models are judged against is the change in the probability of buying at
least once in the window (:func:`conversion_effect`), computed from the customer's purchase rate:
heavy buyers, who buy anyway, gain little from an extra purchase; the put-off lose. On the default
demo the average is about 5 points on a base near 25 %, a relative lift close to the women's e-mail
in the Hillstrom experiment (visits 10.6 % to 15.1 %), with a spread from about -20 to +40 points.
"""

from __future__ import annotations

import numpy as np

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
                               is_lapsing: np.ndarray, is_put_off: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Probability that contact brings one extra purchase (0 for the dead and the put off)."""
    p = np.clip(base + slope * sensitivity + LAPSING_BONUS * is_lapsing, 0.0, 1.0)
    return np.where(alive & ~is_put_off, p, 0.0)


def skip_probability(is_put_off: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Probability that contact cancels each purchase in the window (the put off, alive)."""
    return np.where(is_put_off & alive, SKIP, 0.0)


def conversion_effect(rate_per_day: np.ndarray, days: float, extra: np.ndarray, skip: np.ndarray,
                      alive: np.ndarray) -> np.ndarray:
    """The true change in P(at least one purchase in ``days``) that contact causes.

    Without contact an alive customer buys at least once with probability ``1 - exp(-rate x days)``;
    contacted, their purchases are thinned by ``skip`` and one extra comes with probability ``extra``.
    """
    expected = np.where(alive, np.asarray(rate_per_day, dtype=float) * days, 0.0)
    without = 1.0 - np.exp(-expected)
    with_contact = 1.0 - np.exp(-expected * (1.0 - skip)) * (1.0 - extra)
    return with_contact - without


def purchase_effect(rate_per_day: np.ndarray, days: float, extra: np.ndarray, skip: np.ndarray,
                    alive: np.ndarray) -> np.ndarray:
    """The true change in the expected number of purchases in ``days`` that contact causes."""
    expected = np.where(alive, np.asarray(rate_per_day, dtype=float) * days, 0.0)
    return extra - skip * expected


__all__ = ["LAPSING_BONUS", "LAPSING_GAPS", "SKIP", "PUT_OFF_SENSITIVITY", "conversion_effect", "extra_purchase_probability",
           "lapsing", "purchase_effect", "put_off", "skip_probability"]
