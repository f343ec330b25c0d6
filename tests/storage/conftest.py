"""Fixtures for the storage tests: one Spark session for all of them, and a storage on each engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from micromarket.backend import connect_duckdb
from micromarket.storage import DuckDBStorage

ENGINES = ["duckdb", "spark"]


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """A local Spark session on two cores (starting one takes seconds: one serves every test)."""
    pytest.importorskip("pyspark")
    from micromarket.storage.spark import spark_session

    session = spark_session("local[2]", warehouse=tmp_path_factory.mktemp("spark"))
    yield session
    session.stop()


def open_storage(engine: str, path: Path, session=None):
    """A storage on ``engine`` kept under ``path``: a DuckDB file, or a Spark warehouse folder."""
    if engine == "duckdb":
        con, backend = connect_duckdb(path / "micromarket.duckdb")
        return DuckDBStorage(con, backend)
    from micromarket.storage.spark import SparkStorage

    return SparkStorage(path / "warehouse", session)


@pytest.fixture
def open_engine(request):
    """A function that opens a storage on an engine under a folder; what it opened is closed after the test."""
    opened = []

    def open_(engine: str, path: Path):
        session = request.getfixturevalue("spark") if engine == "spark" else None
        opened.append(open_storage(engine, path, session))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()


@pytest.fixture(params=ENGINES)
def storage(request, open_engine, tmp_path):
    return open_engine(request.param, tmp_path)
