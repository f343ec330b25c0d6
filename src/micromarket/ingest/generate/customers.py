"""Customers and their purchases, simulated in vectorised chunks.

Each customer draws a purchase rate lambda ~ Gamma(r, alpha) and a dropout probability
p ~ Beta(a, b) from their persona (BG/NBD, Fader, Hardie & Lee 2005): after every repeat
purchase they drop out with probability p; while alive they buy as a Poisson process. Each purchase's value is Gamma(p_gg, nu) with nu ~ Gamma(q, gamma)
per customer (Gamma-Gamma). A past randomised e-mail campaign reaches every customer known
30 days before it (half treated); for the treated alive at send it adds an extra purchase or,
for the few put off by contact, takes purchases away, by the rule in :mod:`.effects`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import effects
from .chain import CHANNELS, PERSONAS, PERSONA_MIX


@dataclass
class Window:
    """The simulated period, in days from ``start``."""

    start: pd.Timestamp
    days: int
    acquisition_days: int
    campaign_day: int
    response_days: int = 14


def _repeat_purchase_days(lam, dropout, first, days, rng):
    """Repeat purchases per customer until dropout or the end of the window.

    Returns (customer index of each purchase, day of each purchase, alive at end,
    day of dropout or ``inf``).
    """
    horizon = days - first
    n_potential = rng.poisson(lam * horizon)
    # BG/NBD: dropout comes right after a repeat purchase, the K-th with K ~ Geometric(p) >= 1.
    k_before_dropout = rng.geometric(dropout)
    owner = np.repeat(np.arange(len(lam)), n_potential)
    times = rng.uniform(0, 1, owner.size) * horizon[owner]
    order = np.lexsort((times, owner))
    owner, times = owner[order], times[order]
    starts = np.concatenate(([0], np.cumsum(n_potential)[:-1]))
    rank = np.arange(owner.size) - starts[owner]
    keep = rank < k_before_dropout[owner]
    alive = n_potential < k_before_dropout
    # A customer who dropped out did so right after their last purchase.
    kept_owner, kept_times = owner[keep], times[keep]
    last = np.zeros(len(lam))
    np.maximum.at(last, kept_owner, kept_times)
    dropout_day = np.where(alive, np.inf, first + last)
    return kept_owner, first[kept_owner] + kept_times, alive, dropout_day


def simulate_chunk(ids: np.ndarray, areas: pd.DataFrame, nearest_store: np.ndarray, products: pd.DataFrame, choice_cum: np.ndarray,
                   window: Window, invoice_offset: int, rng: np.random.Generator):
    """Simulate one chunk of customers.

    Returns
    -------
    (customers DataFrame, truth DataFrame, campaign DataFrame, dict of transaction columns)
    """
    n = len(ids)
    persona_names = list(PERSONAS)
    area_idx = rng.integers(0, len(areas), n)
    area_type = areas["_type"].to_numpy()[area_idx]
    cum_mix = PERSONA_MIX.cumsum(axis=1)[area_type]
    persona = (rng.random(n)[:, None] > cum_mix).sum(axis=1)
    spec = [PERSONAS[name] for name in persona_names]
    r, alpha, a, b = (np.array([s["bgnbd"][i] for s in spec])[persona] for i in range(4))
    gg_p, gg_q, gg_gamma = (np.array([s["gg"][i] for s in spec])[persona] for i in range(3))
    lam = rng.gamma(r, 1 / alpha)
    dropout = rng.beta(a, b)
    nu = rng.gamma(gg_q, 1 / gg_gamma)
    ps_a, ps_b = (np.array([s["price_sens"][i] for s in spec])[persona] for i in range(2))
    sensitivity = rng.beta(ps_a, ps_b)
    first = rng.uniform(0, window.acquisition_days, n)
    owner, day, alive, dropout_day = _repeat_purchase_days(lam, dropout, first, window.days, rng)
    # The first purchase belongs to every customer.
    owner = np.concatenate((np.arange(n), owner))
    day = np.concatenate((first, day))

    # Past campaign: every customer known 30 days before it randomised, half treated; its effect
    # differs by persona, price sensitivity, lapsing and aversion to contact (effects.py).
    eligible = first < window.campaign_day - 30
    treated = eligible & (rng.random(n) < 0.5)
    effect = _campaign_effect(owner, day, lam, sensitivity, np.array(persona_names)[persona],
                              eligible & (dropout_day > window.campaign_day), window)
    responds = treated & (rng.random(n) < effect["extra_purchase_p"])
    in_window = (day >= window.campaign_day) & (day < window.campaign_day + window.response_days)
    skipped = in_window & treated[owner] & (rng.random(day.size) < effect["skip_p"][owner])
    skipped_by_customer = np.bincount(owner[skipped], minlength=n)
    owner, day = owner[~skipped], day[~skipped]
    extra = np.flatnonzero(responds)
    owner = np.concatenate((owner, extra))
    day = np.concatenate((day, window.campaign_day + rng.uniform(0, window.response_days, extra.size)))
    from_campaign = np.concatenate((np.zeros(day.size - extra.size, bool), np.ones(extra.size, bool)))

    order = np.lexsort((day, owner))
    owner, day, from_campaign = owner[order], day[order], from_campaign[order]
    invoices = _baskets(owner, day, from_campaign, persona, area_type, area_idx, sensitivity, gg_p, nu,
                        nearest_store, products, choice_cum, spec, window, invoice_offset, ids, rng)

    customers = pd.DataFrame({
        "customer_id": ids,
        "email": [f"customer{i}@example.com" for i in ids],
        "postcode": [f"MM{area_idx[j] + 1} {rng.integers(1, 9)}{chr(65 + rng.integers(0, 26))}{chr(65 + rng.integers(0, 26))}" for j in range(n)],
        "area_id": areas["area_id"].to_numpy()[area_idx],
        "latitude": np.round(areas["latitude"].to_numpy()[area_idx] + rng.normal(0, 0.003, n), 6),
        "longitude": np.round(areas["longitude"].to_numpy()[area_idx] + rng.normal(0, 0.004, n), 6),
        "country": "United Kingdom",
        "gender": rng.choice(np.array(["female", "male"]), n),
        "birth_year": np.array([rng.integers(*spec[p]["birth"]) for p in persona]),
        "signup_at": window.start + pd.to_timedelta(np.floor(first * 86400), unit="s"),
        "consent_email": rng.random(n) < 0.75,
        "consent_sms": rng.random(n) < 0.45,
        "consent_post": rng.random(n) < 0.6,
    })
    truth = pd.DataFrame({
        "customer_id": ids, "persona": np.array(persona_names)[persona], "area_id": customers["area_id"],
        "lambda_per_day": lam, "dropout_p": dropout, "spend_nu": nu, "spend_p": gg_p,
        "expected_spend": gg_p / nu, "price_sensitivity": sensitivity,
        "first_purchase_day": first, "alive_at_end": alive, "dropout_day": dropout_day,
        "campaign_eligible": eligible, "treated": treated, **effect,
        "responded_to_campaign": responds, "skipped_purchases": skipped_by_customer,
    })
    campaign = pd.DataFrame({
        "campaign_id": "spring-offer", "customer_id": ids[eligible],
        "treatment_group": np.where(treated[eligible], "treatment", "control"),
        "variant": "A", "channel": "email",
        "assigned_at": window.start + pd.Timedelta(days=window.campaign_day),
    })
    return customers, truth, campaign, invoices


def _campaign_effect(owner, day, lam, sensitivity, persona_name, live, window) -> dict:
    """Each customer's planted response to the past campaign (:func:`.effects.response`), as truth
    columns. ``live``: eligible and alive at the send. Lapsing is judged on the purchases before it."""
    before = day < window.campaign_day
    last = np.full(len(lam), -np.inf)
    np.maximum.at(last, owner[before], day[before])
    effect = effects.response(persona_name, sensitivity, lam, window.campaign_day - last, live, window.response_days)
    return {"lapsing_at_send": effect.pop("lapsing"), **effect}


def _baskets(owner, day, from_campaign, persona, area_type, area_idx, sensitivity, gg_p, nu, nearest_store,
             products, choice_cum, spec, window, invoice_offset, ids, rng):
    """Turn purchases into invoice lines whose values sum to the Gamma-Gamma draw."""
    n_inv = owner.size
    value = rng.gamma(gg_p[owner], 1 / nu[owner])
    list_price = products["list_price"].to_numpy()
    bins = choice_cum.shape[2]
    sens_bin = np.minimum((sensitivity * bins).astype(int), bins - 1)
    combo = (persona * choice_cum.shape[1] + area_type) * bins + sens_bin
    flat = choice_cum.reshape(-1, choice_cum.shape[3])
    # As many lines as the drawn value buys at the customer's usual line value, so that
    # shelf prices need to flex little to make the basket total the drawn value.
    pdf = np.diff(flat, axis=1, prepend=0.0)
    usual = (pdf @ list_price)[combo[owner]] * 1.35
    lines = np.clip(np.round(value / usual), 1, 40).astype(np.int64)
    line_inv = np.repeat(np.arange(n_inv), lines)
    cust = owner[line_inv]
    u = rng.random(line_inv.size)
    product = np.empty(line_inv.size, dtype=np.int64)
    line_combo = combo[cust]
    for c in np.unique(line_combo):
        sel = line_combo == c
        product[sel] = np.minimum(np.searchsorted(flat[c], u[sel]), flat.shape[1] - 1)
    quantity = 1 + rng.poisson(0.35, line_inv.size)
    # The same product twice in one basket is one line with a larger quantity.
    key, first_at, inverse = np.unique(line_inv * flat.shape[1] + product, return_index=True, return_inverse=True)
    quantity = np.bincount(inverse, quantity).astype(np.int64)
    line_inv, product = line_inv[first_at], product[first_at]
    cust = owner[line_inv]
    on_promo = rng.random(line_inv.size) < (0.05 + 0.45 * sensitivity[cust])
    depth = np.where(on_promo, rng.choice(np.array([0.1, 0.2, 0.25, 0.33]), line_inv.size), 0.0)
    natural = quantity * list_price[product] * (1 - depth)
    inv_natural = np.bincount(line_inv, natural, minlength=n_inv)
    # Prices flex by the invoice's ratio so the basket totals the drawn value.
    scale = (value / inv_natural)[line_inv]
    unit_price = np.round(list_price[product] * scale, 2)
    discount = np.round(quantity * unit_price * depth, 2)
    amount = np.round(quantity * unit_price - discount, 2)

    shares = np.array([s["channels"] for s in spec])[persona[owner]]
    channel = (rng.random(n_inv)[:, None] > shares.cumsum(axis=1)).sum(axis=1)
    channel = np.where(from_campaign, 1, np.minimum(channel, 2))
    home_store = nearest_store[area_idx[owner]]
    other = rng.integers(0, nearest_store.max() + 1, n_inv)
    store = np.where(rng.random(n_inv) < 0.85, home_store, other)
    store = np.where(channel == 0, store, -1)
    hour = np.clip(np.round(rng.normal(np.where(persona[owner] == 3, 11, 17), 2.5)), 7, 21)
    ts = window.start.value // 10**9 + (np.floor(day) * 86400 + hour * 3600 + rng.integers(0, 3600, n_inv))
    return {
        "invoice_id": (invoice_offset + line_inv).astype(np.int64),
        "customer_id": ids[cust],
        "ts": ts[line_inv].astype("datetime64[s]"),
        "product_index": product,
        "quantity": quantity.astype(np.float64),
        "unit_price": unit_price, "amount": amount, "discount": discount,
        "store_index": store[line_inv], "channel_index": channel[line_inv],
        "n_invoices": n_inv,
    }


CHANNEL_NAMES = np.array(CHANNELS)
