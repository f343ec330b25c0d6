"""Generate a retail chain with known truth, streaming to Parquet.

>>> import tempfile
>>> info = generate(tempfile.mkdtemp(), customers=300, seed=1)
>>> info["customers"], info["transactions"] > 300
(300, True)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .chain import AREA_TYPES, PERSONA_MIX, PERSONAS, make_areas, make_products, make_stores, product_choice_tables
from .customers import CHANNEL_NAMES, Window, simulate_chunk

CHUNK = 25_000


def _sizes(customers: int, products: int | None, stores: int | None, areas: int | None) -> tuple[int, int, int]:
    n_areas = areas or int(np.clip(customers / 250, 24, 3_000))
    n_stores = stores or int(np.clip(n_areas / 6, 4, 500))
    n_products = products or int(np.clip(customers / 50, 200, 2_000))
    return n_areas, n_stores, n_products


def _nearest_store(areas: pd.DataFrame, stores: pd.DataFrame) -> np.ndarray:
    lat = np.radians(areas["latitude"].to_numpy())[:, None]
    lon = np.radians(areas["longitude"].to_numpy())[:, None]
    slat = np.radians(stores["latitude"].to_numpy())[None, :]
    slon = np.radians(stores["longitude"].to_numpy())[None, :]
    d = np.hypot((lon - slon) * np.cos(lat), lat - slat)
    return d.argmin(axis=1)


def _transactions_table(cols: dict, product_ids: pa.Array, store_ids: pa.Array) -> pa.Table:
    store_idx = cols["store_index"]
    return pa.table({
        "invoice_id": pa.array(cols["invoice_id"]),
        "customer_id": pa.array(cols["customer_id"]),
        "ts": pa.array(cols["ts"]),
        "product_id": pa.DictionaryArray.from_arrays(pa.array(cols["product_index"], pa.int32()), product_ids),
        "quantity": pa.array(cols["quantity"]),
        "unit_price": pa.array(cols["unit_price"]),
        "amount": pa.array(cols["amount"]),
        "discount": pa.array(cols["discount"]),
        "store_id": pa.DictionaryArray.from_arrays(
            pa.array(np.where(store_idx < 0, 0, store_idx), pa.int32(), mask=store_idx < 0), store_ids),
        "channel": pa.DictionaryArray.from_arrays(pa.array(cols["channel_index"], pa.int32()), pa.array(CHANNEL_NAMES)),
    })


def generate(out_dir: str | Path, customers: int = 20_000, *, products: int | None = None,
             stores: int | None = None, areas: int | None = None, seed: int = 42, weeks: int = 104,
             start: str = "2023-01-01", progress: Callable[[int, int], None] | None = None) -> dict:
    """Write a simulated chain to ``out_dir`` and its truth to ``out_dir/truth``.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``areas``, ``stores``, ``products``, ``customers``,
        ``campaign_members`` and ``transactions`` Parquet files.
    customers : int
        Number of customers; transactions grow with it (about 52 lines each).
    products, stores, areas : int, optional
        Sizes; by default they grow with ``customers``.
    seed : int
        Random seed: the same seed gives the same files.
    weeks : int
        Length of the observed period.
    start : str
        First day of the period.
    progress : callable, optional
        Called with (customers done, customers in all) after each chunk.

    Returns
    -------
    dict
        Sizes written and the paths, as also saved in ``truth/parameters.json``.
    """
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_areas, n_stores, n_products = _sizes(customers, products, stores, areas)
    area_df = make_areas(n_areas, rng)
    store_df = make_stores(area_df, n_stores, rng)
    product_df = make_products(n_products, rng)
    choice = product_choice_tables(product_df)
    nearest = _nearest_store(area_df, store_df)
    days = weeks * 7
    window = Window(pd.Timestamp(start), days, int(days * 0.9), days - 60)

    _public(area_df).to_parquet(out / "areas.parquet", index=False)
    _public(store_df).to_parquet(out / "stores.parquet", index=False)
    _public(product_df).to_parquet(out / "products.parquet", index=False)
    area_df[["area_id", "_type"]].assign(area_type=lambda d: np.array(list(AREA_TYPES))[d["_type"]]).drop(
        columns="_type").to_parquet(out / "truth" / "areas_truth.parquet", index=False)
    product_df[["product_id", "price_tier", "category", "_affinity_type", "_affinity"]].assign(
        planted_area_type=lambda d: np.where(d["_affinity_type"] >= 0,
                                             np.array(list(AREA_TYPES) + [""])[d["_affinity_type"]], None)
    ).rename(columns={"_affinity": "planted_affinity"}).drop(columns="_affinity_type").to_parquet(
        out / "truth" / "products_truth.parquet", index=False)

    product_ids = pa.array(product_df["product_id"])
    store_ids = pa.array(store_df["store_id"])
    writers: dict[str, pq.ParquetWriter] = {}
    n_lines = n_invoices = 0
    try:
        for start_id in range(0, customers, CHUNK):
            ids = np.arange(start_id + 1, min(start_id + CHUNK, customers) + 1, dtype=np.int64)
            cust, truth, campaign, cols = simulate_chunk(ids, area_df, nearest,
                                                         product_df, choice, window, n_invoices + 1, rng)
            n_invoices += cols["n_invoices"]
            tx = _transactions_table(cols, product_ids, store_ids)
            n_lines += tx.num_rows
            for name, table in (("transactions", tx), ("customers", pa.Table.from_pandas(cust, preserve_index=False)),
                                ("truth/customers_truth", pa.Table.from_pandas(truth, preserve_index=False)),
                                ("campaign_members", pa.Table.from_pandas(campaign, preserve_index=False))):
                if name not in writers:
                    writers[name] = pq.ParquetWriter(out / f"{name}.parquet", table.schema)
                writers[name].write_table(table)
            if progress:
                progress(int(ids[-1]), customers)
    finally:
        for w in writers.values():
            w.close()
    info = {
        "customers": customers, "transactions": n_lines, "invoices": n_invoices, "areas": n_areas,
        "stores": n_stores, "products": n_products, "seed": seed, "start": start,
        "end": str((window.start + pd.Timedelta(days=days)).date()),
        "campaign": {"campaign_id": "spring-offer", "send_date": str((window.start + pd.Timedelta(days=window.campaign_day)).date()),
                     "response_days": window.response_days, "assignment": "every customer known 30 days before, randomised: 50% treatment",
                     "effect": "treated customers alive at send: an extra purchase with probability extra_purchase_p, or (put off by contact) each purchase in the window skipped with probability skip_p; true_uplift is the change in P(buying in the window), true_extra_purchases in purchases (effects.py)"},
        "area_types": AREA_TYPES, "personas": {k: {kk: vv for kk, vv in v.items()} for k, v in PERSONAS.items()},
        "persona_mix_by_area_type": dict(zip(AREA_TYPES, PERSONA_MIX.tolist())),
        "units": {"bgnbd": "r, alpha (rate per day), a, b", "gg": "p, q, gamma (per purchase value)"},
        "files": sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet")),
    }
    (out / "truth" / "parameters.json").write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    return info


def _public(df: pd.DataFrame) -> pd.DataFrame:
    """Drop the columns that carry the truth (they start with an underscore)."""
    return df[[c for c in df.columns if not c.startswith("_")]]
