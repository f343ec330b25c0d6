"""Identify: load customer, transaction, product, store, area and event data into the workspace.

Readers (:mod:`.sources`, :mod:`.postgres`) put a source into DuckDB; :mod:`.mapping`
and :mod:`.presets` say which source column feeds which canonical column;
:mod:`.convert` types and checks every cell; :mod:`.transactions` and
:mod:`.dimensions` write; :mod:`.load` runs it all as one transaction.
"""

from .load import ingest
from .presets import PRESETS
from .report import LoadReport

__all__ = ["ingest", "LoadReport", "PRESETS"]
