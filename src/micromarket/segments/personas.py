"""Personas: a name and a paragraph for each segment, written from the numbers.

What sets a segment apart is measured by standardised differences: (segment mean - overall
mean) / overall standard deviation, per feature. The name takes words for the largest
differences; the paragraph states size, value, activity, the differences in words, the top
categories, channel, store, price sensitivity and demographics. Nothing is random: the same
data give the same personas.

Names and texts are built from valid parts only: a feature that is the same for every
customer (one channel, one category), entirely missing, or not identified by the data (P(alive)
where the profile found no dropout) says nothing about a segment and is left out; so is the
``(unknown)`` category, which is not a category; no word appears twice in a name; no figure
that is not a number is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..learn.naming import NOT_A_CATEGORY as _NOT_A_CATEGORY
from ..learn.naming import differences, informative, largest_first, standardised, unique_name

#: Words for a feature far above (first) or below (second) the whole customer base.
WORDS = {
    "clv": ("high-value", "low-value"), "p_alive": ("active", "lapsing"), "frequency": ("frequent", "occasional"),
    "monetary_value": ("big-spending", "small-spending"), "avg_basket_value": ("big-basket", "small-basket"),
    "avg_basket_items": ("bulk-buying", "few-item"), "price_sensitivity": ("bargain-hunting", "price-relaxed"),
    "weekend_share": ("weekend", "weekday"), "return_rate": ("returning", "keep-it"), "age": ("senior", "young"),
    "n_categories": ("broad-basket", "focused"), "tenure_days": ("long-standing", "new"),
    # recency is the time from the first to the last purchase, like tenure_days (low is not "recent").
    "mean_interpurchase_days": ("infrequent", "regular"), "recency": ("long-standing", "new"),
}
#: Phrases for the paragraph: (feature, "more" phrase, "less" phrase).
PHRASES = {
    "clv": ("are worth more", "are worth less"), "p_alive": ("are more likely still active", "are more likely lapsing"),
    "frequency": ("buy more often", "buy less often"), "avg_basket_value": ("spend more per basket", "spend less per basket"),
    "avg_basket_items": ("buy more items per basket", "buy fewer items per basket"),
    "price_sensitivity": ("buy more on discount or below the usual price", "rarely chase discounts"),
    "weekend_share": ("shop more at weekends", "shop more on weekdays"), "age": ("are older", "are younger"),
    "return_rate": ("return more", "return less"), "n_categories": ("buy across more categories", "buy in fewer categories"),
    "monetary_value": ("spend more per purchase", "spend less per purchase"),
}
_SEGMENT_NOUN = "shoppers"


@dataclass
class Persona:
    """One segment's persona."""

    name: str
    description: str
    facts: dict


def _label(feature: str, high: bool) -> str:
    """Words for a feature being high (or low) in a segment."""
    if feature.startswith("share:"):
        return f"{feature[6:].lower()} shoppers"
    if feature.startswith("channel:"):
        channel = feature[8:].lower()
        return {"web": "online", "app": "app", "store": "in-store"}.get(channel, channel)
    return WORDS[feature][0 if high else 1]


def _nameable(feature: str, value: float) -> bool:
    """Features that make a good name word: behaviour and value words, a channel used more."""
    return feature in WORDS or (feature.startswith("channel:") and feature not in _NOT_A_CATEGORY and value > 0)


def name_for(diff: pd.Series, used: set[str]) -> str:
    """A short, unique name from the largest standardised differences of one segment: two
    words (three where two would repeat a name already given), then a noun, no word twice
    (``recency`` and ``tenure_days`` both say "long-standing")."""
    ranked = largest_first(diff)
    nouns = [f for f, v in ranked.items() if f.startswith("share:") and f not in _NOT_A_CATEGORY and v > 0.3][:1]
    noun = _label(nouns[0], True) if nouns else _SEGMENT_NOUN
    words = _distinct_words(ranked, set(noun.lower().split()))[:3] or (["typical"] if not nouns else [])
    for n in (2, 3):
        name = " ".join(words[:n] + [noun])
        if unique_name(name, set()) not in used:
            break
    return unique_name(name, used)


def _distinct_words(ranked: pd.Series, taken: set[str]) -> list[str]:
    """Name words for the differences in order, skipping any that repeats a word of ``taken``
    or of a word before it."""
    words = []
    for feature, value in ranked.items():
        if not (_nameable(feature, value) and abs(value) > 0.3):
            continue
        label = _label(feature, value > 0)
        if taken & set(label.lower().split()):
            continue
        words.append(label)
        taken = taken | set(label.lower().split())
    return words


def describe_segments(features: pd.DataFrame, profile: pd.DataFrame, labels: np.ndarray,
                      area_types: pd.Series | None = None, unidentified=(),
                      attributes: pd.DataFrame | None = None) -> dict[int, Persona]:
    """A :class:`Persona` for every label.

    Parameters
    ----------
    features : DataFrame
        Readable features per customer (:func:`micromarket.segments.features.customer_features`).
    profile : DataFrame
        ``clv``, ``p_alive``, ``preferred_channel``, ``preferred_store`` per customer (same index).
    labels : array
        Segment label per row.
    area_types : Series, optional
        Area type per customer (same index), for the demographics sentence.
    unidentified : iterable of str
        Features the data do not identify (``p_alive`` where the profile found no dropout):
        neither named nor described.
    attributes : DataFrame, optional
        Band and category attributes per customer (same index), such as an income band:
        each segment's most common value is a fact and a sentence.
    """
    labels = np.asarray(labels)
    numeric = features.select_dtypes("number")
    means = numeric.groupby(labels).mean()  # every per-segment figure in one grouped pass
    diffs = standardised(means, numeric)[informative(numeric, unidentified)]
    value = profile[["clv", "p_alive"]].groupby(labels).agg(["sum", "mean"])
    unidentified = set(unidentified)
    alive_known = "p_alive" not in unidentified
    modes = {name: _modes(column, labels) for name, column in
             (("preferred_channel", profile.get("preferred_channel")), ("preferred_store", profile.get("preferred_store")),
              ("area_type", area_types))}
    attribute_modes = {name: _modes(attributes[name], labels) for name in
                       (attributes.columns if attributes is not None else [])}
    sizes = pd.Series(labels).value_counts()
    total_clv = float(profile["clv"].sum()) or 1.0
    share_cols = [c for c in diffs.columns if c.startswith("share:")]
    used: set[str] = set()
    personas = {}
    # Largest segments are named first, so they get the plain names.
    for label, size in sizes.items():
        row, diff = means.loc[label], diffs.loc[label]
        shares = row[share_cols]
        facts = {
            "customers": int(size), "customer_share": size / len(labels),
            "clv_share": float(value.loc[label, ("clv", "sum")]) / total_clv,
            "mean_clv": _number(value.loc[label, ("clv", "mean")]),
            "p_alive": _number(value.loc[label, ("p_alive", "mean")]) if alive_known else None,
            # Only categories the segment buys at all.
            "top_categories": shares[shares > 0].sort_values(ascending=False).index[:3].str[6:].tolist(),
            **{name: found.get(label) for name, found in modes.items()},
            "price_sensitivity": None if "price_sensitivity" in unidentified else _number(row.get("price_sensitivity")),
            "mean_age": _number(row.get("age")),
            "attributes": {name: found[label] for name, found in attribute_modes.items() if label in found},
            "distinguishing": {f: round(float(v), 2) for f, v in largest_first(diff)[:5].items()},
            "differences": {f: round(float(v), 3) for f, v in diff.items()},
        }
        name = name_for(diff, used)
        personas[int(label)] = Persona(name=name, description=_paragraph(name, facts, diff), facts=facts)
    return personas


def _number(value) -> float | None:
    """``value`` as a float, or ``None`` where it is missing or not a number (never written as "nan")."""
    return float(value) if value is not None and pd.notna(value) and np.isfinite(value) else None


def _modes(values: pd.Series | None, labels: np.ndarray) -> dict:
    """The most common value per label (ties: the first in sorted order)."""
    if values is None:
        return {}
    counts = pd.DataFrame({"label": labels, "value": values.to_numpy()}).dropna().value_counts()
    ordered = counts.reset_index().sort_values(["label", "count", "value"], ascending=[True, False, True])
    return ordered.drop_duplicates("label").set_index("label")["value"].to_dict()


def _paragraph(name: str, facts: dict, diff: pd.Series) -> str:
    figures = [f"mean CLV {facts['mean_clv']:,.2f}" if facts["mean_clv"] is not None else None,
               f"{facts['p_alive']:.0%} likely still active" if facts["p_alive"] is not None else None]
    sentences = [f"{facts['customers']:,} customers ({facts['customer_share']:.0%} of customers, "
                 f"{facts['clv_share']:.0%} of expected value)" + "".join(f", {f}" for f in figures if f) + "."]
    phrases = []
    for feature, value in largest_first(diff).items():
        if abs(value) < 0.3 or len(phrases) == 3:
            continue
        if feature in PHRASES:
            phrases.append(PHRASES[feature][0 if value > 0 else 1])
        elif feature.startswith("share:"):
            phrases.append(f"{'buy more' if value > 0 else 'buy less'} {feature[6:].lower()}")
        elif feature.startswith("channel:"):
            phrases.append(f"{'use' if value > 0 else 'rarely use'} the {feature[8:]} channel")
        elif feature.startswith("customer:") and "=" in feature:
            name, _, level = feature[9:].partition("=")
            phrases.append(f"are {'more' if value > 0 else 'less'} often {name.replace('_', ' ')} {level}")
        elif feature.startswith("customer:"):
            phrases.append(f"have {'higher' if value > 0 else 'lower'} {feature[9:].replace('_', ' ')}")
    if phrases:
        sentences.append("Compared with all customers they " + _join(phrases) + ".")
    if facts["top_categories"]:
        sentences.append(f"Top categories: {', '.join(facts['top_categories'])}.")
    where = [f"mostly {facts['preferred_channel']}" if facts["preferred_channel"] else None,
             f"favourite store {facts['preferred_store']}" if facts["preferred_store"] else None]
    if any(where):
        sentences.append(_join([w for w in where if w]).capitalize() + ".")
    if facts["price_sensitivity"] is not None:
        sentences.append(f"{facts['price_sensitivity']:.0%} of their spend is on discount or below the usual price.")
    demo = [f"mean age {facts['mean_age']:.0f}" if facts["mean_age"] is not None else None,
            f"most live in \"{facts['area_type']}\" areas" if facts["area_type"] else None]
    if any(demo):
        sentences.append(_join([d for d in demo if d]).capitalize() + ".")
    if facts.get("attributes"):
        sentences.append("Most common: " + ", ".join(f"{name.replace('_', ' ')} {value}"
                                                     for name, value in list(facts["attributes"].items())[:5]) + ".")
    return " ".join(sentences)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
