"""Personas: a name and a paragraph for each segment, written from the numbers.

What sets a segment apart is measured by standardised differences: (segment mean - overall
mean) / overall standard deviation, per feature. The name takes words for the largest
differences; the paragraph states size, value, activity, the differences in words, the top
categories, channel, store, price sensitivity and demographics. Nothing is random: the same
data give the same personas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Words for a feature far above (first) or below (second) the whole customer base.
WORDS = {
    "clv": ("high-value", "low-value"), "p_alive": ("active", "lapsing"), "frequency": ("frequent", "occasional"),
    "monetary_value": ("big-spending", "small-spending"), "avg_basket_value": ("big-basket", "small-basket"),
    "avg_basket_items": ("bulk-buying", "few-item"), "price_sensitivity": ("bargain-hunting", "price-relaxed"),
    "weekend_share": ("weekend", "weekday"), "return_rate": ("returning", "keep-it"), "age": ("senior", "young"),
    "n_categories": ("broad-basket", "focused"), "tenure_days": ("long-standing", "new"),
    "mean_interpurchase_days": ("infrequent", "regular"), "recency": ("long-standing", "recent"),
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
    return feature in WORDS or (feature.startswith("channel:") and value > 0)


def differences(features: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Standardised difference of each segment's mean from the whole, per feature (segments x features)."""
    numeric = features.select_dtypes("number")
    return _standardised(numeric.groupby(np.asarray(labels)).mean(), numeric)


def _standardised(means: pd.DataFrame, numeric: pd.DataFrame) -> pd.DataFrame:
    return ((means - numeric.mean()) / numeric.std().replace(0, np.nan)).fillna(0.0)


def name_for(diff: pd.Series, used: set[str]) -> str:
    """A short, unique name from the largest standardised differences of one segment."""
    ranked = largest_first(diff)
    nouns = [f for f, v in ranked.items() if f.startswith("share:") and v > 0.3][:1]
    adjectives = [f for f, v in ranked.items() if _nameable(f, v) and abs(v) > 0.3][:2]
    words = [_label(f, diff[f] > 0) for f in adjectives]
    noun = _label(nouns[0], True) if nouns else _SEGMENT_NOUN
    return unique_name(" ".join(words + [noun]).strip() or "typical shoppers", used)


def largest_first(diff: pd.Series) -> pd.Series:
    """The differences ordered by size, largest first, sign kept."""
    return diff.reindex(diff.abs().sort_values(ascending=False).index)


def unique_name(name: str, used: set[str]) -> str:
    """``name`` capitalised, with `` (2)``, `` (3)``... if already ``used``; records it as used."""
    name = name[0].upper() + name[1:]
    unique, n = name, 2
    while unique in used:
        unique, n = f"{name} ({n})", n + 1
    used.add(unique)
    return unique


def describe_segments(features: pd.DataFrame, profile: pd.DataFrame, labels: np.ndarray,
                      area_types: pd.Series | None = None) -> dict[int, Persona]:
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
    """
    labels = np.asarray(labels)
    numeric = features.select_dtypes("number")
    means = numeric.groupby(labels).mean()  # every per-segment figure in one grouped pass
    diffs = _standardised(means, numeric)
    value = profile[["clv", "p_alive"]].groupby(labels).agg(["sum", "mean"])
    modes = {name: _modes(column, labels) for name, column in
             (("preferred_channel", profile.get("preferred_channel")), ("preferred_store", profile.get("preferred_store")),
              ("area_type", area_types))}
    sizes = pd.Series(labels).value_counts()
    total_clv = float(profile["clv"].sum()) or 1.0
    share_cols = [c for c in means.columns if c.startswith("share:")]
    used: set[str] = set()
    personas = {}
    # Largest segments are named first, so they get the plain names.
    for label, size in sizes.items():
        row, diff = means.loc[label], diffs.loc[label]
        facts = {
            "customers": int(size), "customer_share": size / len(labels),
            "clv_share": float(value.loc[label, ("clv", "sum")]) / total_clv,
            "mean_clv": float(value.loc[label, ("clv", "mean")]), "p_alive": float(value.loc[label, ("p_alive", "mean")]),
            "top_categories": row[share_cols].sort_values(ascending=False).index[:3].str[6:].tolist(),
            **{name: found.get(label) for name, found in modes.items()},
            "price_sensitivity": float(row["price_sensitivity"]) if "price_sensitivity" in row else None,
            "mean_age": float(row["age"]) if "age" in row and pd.notna(row["age"]) else None,
            "distinguishing": {f: round(float(v), 2) for f, v in largest_first(diff)[:5].items()},
            "differences": {f: round(float(v), 3) for f, v in diff.items()},
        }
        name = name_for(diff, used)
        personas[int(label)] = Persona(name=name, description=_paragraph(name, facts, diff), facts=facts)
    return personas


def _modes(values: pd.Series | None, labels: np.ndarray) -> dict:
    """The most common value per label (ties: the first in sorted order)."""
    if values is None:
        return {}
    counts = pd.DataFrame({"label": labels, "value": values.to_numpy()}).dropna().value_counts()
    ordered = counts.reset_index().sort_values(["label", "count", "value"], ascending=[True, False, True])
    return ordered.drop_duplicates("label").set_index("label")["value"].to_dict()


def _paragraph(name: str, facts: dict, diff: pd.Series) -> str:
    sentences = [f"{facts['customers']:,} customers ({facts['customer_share']:.0%} of customers, "
                 f"{facts['clv_share']:.0%} of expected value), mean CLV {facts['mean_clv']:,.2f}, "
                 f"{facts['p_alive']:.0%} likely still active."]
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
    return " ".join(sentences)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
