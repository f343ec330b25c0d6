"""A PostgreSQL table as a source: a real server started by the fixture, the URL from the environment."""

import psycopg
import pytest

from micromarket import IngestError


@pytest.fixture
def orders_table(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS shop CASCADE; CREATE SCHEMA shop")
        con.execute(
            "CREATE TABLE shop.orders (order_id text, client_id bigint, ordered_at timestamp, sku text, "
            "qty integer, price numeric(10, 2), store text)"
        )
        rows = [(f"O{i // 3}", 100 + i % 7, f"2024-03-{1 + i % 28:02d} 10:{i % 60:02d}:00", f"SKU{i % 11}",
                 1 + i % 3, 2.5 + i % 5, "S1") for i in range(300)]
        with con.cursor() as cur:
            cur.executemany("INSERT INTO shop.orders VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
    return rows


def test_ingest_reads_a_postgres_table(ws, orders_table, postgres_url, monkeypatch):
    monkeypatch.setenv("SHOP_DB_URL", postgres_url)
    report = ws.ingest("postgres:shop.orders", url_env="SHOP_DB_URL",
                       mapping={"invoice_id": "order_id", "customer_id": "client_id", "ts": "ordered_at",
                                "product_id": "sku", "quantity": "qty", "unit_price": "price", "store_id": "store"})
    assert report.rows_read == 300 and report.rows_loaded == 300
    tx = ws.table("transactions")
    assert tx.count().execute() == 300
    revenue = tx.amount.sum().execute()
    assert revenue == pytest.approx(sum(q * p for *_, q, p, _s in orders_table))
    assert ws.table("customers").count().execute() == 7
    # The URL never reaches the workspace file or the loads log.
    assert postgres_url not in ws.config_path.read_text()
    assert not any(postgres_url in str(load) for load in ws.loads())


def test_second_load_of_the_same_table_adds_nothing(ws, orders_table, postgres_url, monkeypatch):
    monkeypatch.setenv("MICROMARKET_POSTGRES_URL", postgres_url)
    mapping = {"invoice_id": "order_id", "customer_id": "client_id", "ts": "ordered_at", "product_id": "sku",
               "quantity": "qty", "unit_price": "price"}
    ws.ingest("postgres:shop.orders", mapping=mapping)
    again = ws.ingest("postgres:shop.orders", mapping=mapping)
    assert again.rows_loaded == 0 and again.rows_already_present == 300


def test_unset_url_variable_is_a_clear_error(ws, monkeypatch):
    monkeypatch.delenv("NOT_SET_URL", raising=False)
    with pytest.raises(IngestError, match="NOT_SET_URL"):
        ws.ingest("postgres:shop.orders", url_env="NOT_SET_URL")


def test_missing_table_is_a_clear_error(ws, postgres_url, monkeypatch):
    monkeypatch.setenv("MICROMARKET_POSTGRES_URL", postgres_url)
    with pytest.raises(IngestError, match="postgres:shop.nope"):
        ws.ingest("postgres:shop.nope")
    assert ws.counts()["loads"] == 0
