"""A grocery export: stores, products and purchases, no customers or areas files, and one thin store."""

import pytest

from micromarket import Workspace
from micromarket.ingest.generate import generate

from helpers import THIN_CUSTOMER, THIN_STORE, write


@pytest.fixture(scope="session")
def grocery(tmp_path_factory):
    """(workspace, root) of a 1,500-customer chain of 8 stores observed for 60 weeks, loaded as a
    grocery export is: products and purchase lines only, plus a new store with a single customer."""
    root = tmp_path_factory.mktemp("grocery")
    generate(root / "data", 1_500, stores=8, seed=5, weeks=60)
    ws = Workspace.create(root / "ws")
    for table in ("products", "transactions"):
        ws.ingest(root / "data" / f"{table}.parquet", table=table)
    last = ws.con.execute("SELECT max(ts)::DATE FROM transactions").fetchone()[0]
    product = ws.con.execute("SELECT min(product_id) FROM products").fetchone()[0]
    ws.ingest(write(root / "thin.csv",
                    "invoice_id,customer_id,ts,product_id,quantity,unit_price,amount,store_id,channel\n"
                    f"T900001,{THIN_CUSTOMER},{last} 10:00:00,{product},30,99.0,2970.0,{THIN_STORE},store\n"),
              table="transactions")
    yield ws, root
    ws.close()
