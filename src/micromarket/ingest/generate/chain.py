"""The simulated retail chain's fixed parts: neighbourhood types, personas, areas, stores, products.

Every number a later stage should recover is defined here, in plain tables, and saved
beside the generated data as the truth (``truth/parameters.json``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

#: Neighbourhood types with the census profile they are drawn from:
#: (median income mean, sd), shares of residents aged 18-34 / 35-54 / 55+,
#: share of households with children, residents per km2.
AREA_TYPES: dict[str, dict] = {
    "Affluent suburbs": {"income": (82_000, 9_000), "age": (0.18, 0.40, 0.42), "children": 0.34, "density": 2_500},
    "Young urban professionals": {"income": (58_000, 7_000), "age": (0.52, 0.33, 0.15), "children": 0.14, "density": 11_000},
    "Family estates": {"income": (41_000, 5_000), "age": (0.26, 0.46, 0.28), "children": 0.52, "density": 4_500},
    "Budget inner city": {"income": (24_000, 3_500), "age": (0.40, 0.35, 0.25), "children": 0.38, "density": 9_000},
}

#: Personas: BG/NBD (r, alpha per day, a, b), Gamma-Gamma spend (p, q, gamma), price
#: sensitivity Beta(a, b), channel shares (store, web, app), category weights, tier
#: weights (everyday, premium, specialty), campaign response (probability of an extra purchase when
#: contacted: base, and per unit of price sensitivity, for the offer's discount; see effects.py) and
#: birth-year range.
PERSONAS: dict[str, dict] = {
    "Premium foodies": {
        "bgnbd": (2.0, 45.0, 1.0, 14.0), "gg": (6.0, 4.0, 15.0), "price_sens": (2.0, 8.0),
        "channels": (0.60, 0.30, 0.10), "tiers": (0.25, 0.45, 0.30), "uplift": (0.03, 0.00),
        "categories": {"Cheese": 5, "Wine": 4, "Deli": 4, "Bakery": 2, "Fresh produce": 2, "Meat & fish": 2},
        "birth": (1960, 1990),
    },
    "Budget families": {
        "bgnbd": (3.0, 32.0, 1.0, 15.0), "gg": (5.0, 4.0, 12.0), "price_sens": (7.0, 3.0),
        "channels": (0.80, 0.15, 0.05), "tiers": (0.80, 0.17, 0.03), "uplift": (0.04, 0.50),
        "categories": {"Dairy": 4, "Fresh produce": 4, "Baby": 3, "Household": 3, "Snacks": 3, "Bakery": 2, "Cheese": 1},
        "birth": (1978, 1996),
    },
    "Busy professionals": {
        "bgnbd": (1.5, 40.0, 1.2, 8.0), "gg": (6.0, 4.0, 10.0), "price_sens": (2.0, 6.0),
        "channels": (0.25, 0.35, 0.40), "tiers": (0.35, 0.45, 0.20), "uplift": (0.02, 0.05),
        "categories": {"Wine": 4, "Deli": 3, "Bakery": 2, "Snacks": 2, "Fresh produce": 2, "Cheese": 2},
        "birth": (1985, 2002),
    },
    "Senior loyalists": {
        "bgnbd": (4.0, 55.0, 0.5, 20.0), "gg": (5.0, 4.0, 8.0), "price_sens": (4.0, 4.0),
        "channels": (0.95, 0.05, 0.00), "tiers": (0.55, 0.35, 0.10), "uplift": (0.05, 0.02),
        "categories": {"Bakery": 4, "Dairy": 3, "Cheese": 3, "Fresh produce": 3, "Meat & fish": 3, "Household": 1},
        "birth": (1940, 1962),
    },
    "Occasional bargain hunters": {
        "bgnbd": (0.6, 30.0, 2.0, 4.0), "gg": (4.0, 4.0, 6.0), "price_sens": (8.0, 2.0),
        "channels": (0.55, 0.35, 0.10), "tiers": (0.90, 0.09, 0.01), "uplift": (0.02, 0.65),
        "categories": {"Snacks": 4, "Household": 3, "Dairy": 2, "Fresh produce": 2, "Wine": 1},
        "birth": (1970, 2004),
    },
}

#: How common each persona is in each neighbourhood type (rows follow AREA_TYPES).
PERSONA_MIX = np.array([
    # foodies families professionals seniors bargain
    [0.40, 0.15, 0.10, 0.30, 0.05],
    [0.20, 0.05, 0.55, 0.05, 0.15],
    [0.08, 0.55, 0.10, 0.17, 0.10],
    [0.03, 0.35, 0.07, 0.20, 0.35],
])

#: Categories with their product varieties and the price (GBP) of an everyday item.
CATEGORIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "Cheese": (2.8, ("Cheddar", "Brie", "Stilton", "Gouda", "Manchego", "Comte", "Roquefort", "Halloumi",
                     "Mozzarella", "Parmesan", "Red Leicester", "Wensleydale", "Camembert", "Gruyere", "Feta")),
    "Wine": (6.0, ("Merlot", "Rioja", "Chianti", "Sauvignon Blanc", "Chardonnay", "Prosecco", "Malbec", "Rose")),
    "Bakery": (1.4, ("Sourdough", "Baguette", "Croissants", "Rye loaf", "Bagels", "Brioche", "Wholemeal loaf")),
    "Dairy": (1.2, ("Milk", "Butter", "Yoghurt", "Cream", "Eggs", "Kefir")),
    "Fresh produce": (1.5, ("Apples", "Bananas", "Tomatoes", "Salad", "Berries", "Avocados", "Potatoes", "Carrots")),
    "Meat & fish": (4.5, ("Chicken", "Beef mince", "Salmon", "Sausages", "Bacon", "Cod", "Lamb")),
    "Deli": (3.2, ("Olives", "Hummus", "Salami", "Prosciutto", "Pesto", "Antipasti")),
    "Snacks": (1.3, ("Crisps", "Chocolate", "Biscuits", "Nuts", "Popcorn")),
    "Household": (2.5, ("Detergent", "Kitchen roll", "Washing-up liquid", "Bin bags")),
    "Baby": (3.5, ("Nappies", "Baby food", "Wipes", "Formula")),
}
TIERS = ("everyday", "premium", "specialty")
TIER_PRICE = (1.0, 2.1, 3.6)
TIER_MARGIN = (0.22, 0.34, 0.45)
CHANNELS = ("store", "web", "app")
CITY = {"lat": 51.50, "lon": -0.12, "cell_km": 1.2}


def make_areas(n_areas: int, rng: np.random.Generator) -> pd.DataFrame:
    """Square neighbourhoods on a grid, types clustered in space, census variables by type."""
    side = int(np.ceil(np.sqrt(n_areas)))
    idx = np.arange(n_areas)
    row, col = idx // side, idx % side
    # Types follow a smooth pattern (affluent edge, dense centre) plus noise, as in real cities.
    centre = (side - 1) / 2
    dist = np.hypot(row - centre, col - centre) / max(centre, 1)
    score = dist + rng.normal(0, 0.25, n_areas)
    ranks = np.argsort(np.argsort(score)) / max(n_areas - 1, 1)
    type_idx = np.select([ranks < 0.25, ranks < 0.5, ranks < 0.75], [3, 1, 2], 0)
    names = list(AREA_TYPES)
    dlat = CITY["cell_km"] / 111.0
    dlon = CITY["cell_km"] / (111.0 * np.cos(np.radians(CITY["lat"])))
    lat0 = CITY["lat"] - centre * dlat
    lon0 = CITY["lon"] - centre * dlon
    lat = lat0 + row * dlat
    lon = lon0 + col * dlon
    rows = []
    for i in range(n_areas):
        spec = AREA_TYPES[names[type_idx[i]]]
        ages = rng.dirichlet(np.array(spec["age"]) * 60)
        households = int(rng.integers(1_500, 4_500))
        poly = [[lon[i] - dlon / 2, lat[i] - dlat / 2], [lon[i] + dlon / 2, lat[i] - dlat / 2],
                [lon[i] + dlon / 2, lat[i] + dlat / 2], [lon[i] - dlon / 2, lat[i] + dlat / 2]]
        poly.append(poly[0])
        rows.append({
            "area_id": f"A{i + 1:04d}", "name": f"Neighbourhood {i + 1}",
            "latitude": round(lat[i], 6), "longitude": round(lon[i], 6),
            "geometry": json.dumps({"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in poly]]}),
            "households": households, "population": int(households * rng.uniform(2.0, 2.8)),
            "median_income": round(float(rng.normal(*spec["income"])), -2),
            "share_age_18_34": round(ages[0], 4), "share_age_35_54": round(ages[1], 4),
            "share_age_55_plus": round(ages[2], 4),
            "share_households_with_children": round(float(np.clip(rng.normal(spec["children"], 0.04), 0.02, 0.9)), 4),
            "population_density": round(float(rng.lognormal(np.log(spec["density"]), 0.15)), 0),
            "_type": type_idx[i],
        })
    return pd.DataFrame(rows)


def make_stores(areas: pd.DataFrame, n_stores: int, rng: np.random.Generator) -> pd.DataFrame:
    """Stores in distinct areas; hypermarkets in the suburbs, express stores in dense areas."""
    chosen = np.sort(rng.choice(len(areas), size=min(n_stores, len(areas)), replace=False))
    formats = np.array(["hypermarket", "supermarket", "supermarket", "express"])
    sizes = {"hypermarket": 6_000, "supermarket": 2_000, "express": 400}
    rows = []
    for j, a in enumerate(chosen):
        fmt = formats[areas["_type"].iat[a]]
        rows.append({
            "store_id": f"S{j + 1:03d}", "name": f"micromarket {areas['name'].iat[a].split()[-1]}",
            "area_id": areas["area_id"].iat[a], "latitude": areas["latitude"].iat[a],
            "longitude": areas["longitude"].iat[a], "format": fmt,
            "size_sqm": float(round(sizes[fmt] * rng.uniform(0.8, 1.2))),
            "opened_at": pd.Timestamp("2005-01-01") + pd.Timedelta(days=int(rng.integers(0, 6000))),
        })
    return pd.DataFrame(rows)


def make_products(n_products: int, rng: np.random.Generator) -> pd.DataFrame:
    """Products spread over categories and tiers, each with list price and cost.

    A few premium and specialty products get a planted affinity to one neighbourhood
    type (``_affinity_type``, ``_affinity``): they sell several times more there, the
    truth that localised assortment must find.
    """
    cats = list(CATEGORIES)
    cat_idx = np.arange(n_products) % len(cats)
    tier_idx = rng.choice(3, size=n_products, p=[0.5, 0.32, 0.18])
    rows = []
    for i in range(n_products):
        cat = cats[cat_idx[i]]
        base, varieties = CATEGORIES[cat]
        tier = tier_idx[i]
        price = round(base * TIER_PRICE[tier] * rng.uniform(0.75, 1.3), 2)
        planted = tier > 0 and rng.random() < 0.12
        rows.append({
            "product_id": f"P{i + 1:05d}",
            "name": f"{varieties[(i // len(cats)) % len(varieties)]} {TIERS[tier]} #{i + 1}",
            "category": cat, "subcategory": varieties[(i // len(cats)) % len(varieties)],
            "brand": ("micromarket", "Heritage", "Artisan")[tier], "price_tier": TIERS[tier],
            "list_price": price, "unit_cost": round(price * (1 - TIER_MARGIN[tier]), 2), "is_product": True,
            "_tier": tier, "_cat": cat_idx[i],
            "_affinity_type": int(rng.integers(0, len(AREA_TYPES))) if planted else -1,
            "_affinity": 3.0 if planted else 1.0,
        })
    return pd.DataFrame(rows)


def product_choice_tables(products: pd.DataFrame, n_sens_bins: int = 3) -> np.ndarray:
    """Cumulative choice probabilities over products for each (persona, area type, price-sensitivity bin).

    Premium and specialty tiers gain weight with the neighbourhood's income (the
    planted local effect), lose it with price sensitivity, and planted products gain
    their affinity in their neighbourhood type.
    """
    personas = list(PERSONAS)
    n_types = len(AREA_TYPES)
    income_lift = np.array([1.6, 1.15, 0.85, 0.55])  # premium appetite by area type
    tier = products["_tier"].to_numpy()
    cats = np.array(list(CATEGORIES))[products["_cat"].to_numpy()]
    cum = np.zeros((len(personas), n_types, n_sens_bins, len(products)))
    for p, name in enumerate(personas):
        spec = PERSONAS[name]
        cat_w = np.array([spec["categories"].get(c, 0.2) for c in cats], dtype=float)
        for t in range(n_types):
            for s in range(n_sens_bins):
                sens = (s + 0.5) / n_sens_bins
                tw = np.array(spec["tiers"]) * np.array([1.0, income_lift[t], income_lift[t] ** 1.5])
                tw = tw * np.array([1.0, 1.2 - sens, (1.2 - sens) ** 1.5])
                w = cat_w * tw[tier]
                aff = (products["_affinity_type"].to_numpy() == t)
                w = w * np.where(aff, products["_affinity"].to_numpy(), 1.0)
                # Each tier's share is spread over its products, so tier totals stay as set.
                counts = np.bincount(tier, minlength=3).astype(float)
                w = w / counts[tier]
                cum[p, t, s] = np.cumsum(w / w.sum())
    return cum
