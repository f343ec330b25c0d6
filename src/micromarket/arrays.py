"""Small array helpers shared by stages that turn database columns into NumPy arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def dictionary_codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and the distinct values of an Arrow string column.

    Arrow's dictionary encoding handles millions of rows without making a Python string
    per row; ``values[codes]`` gives the column back.
    """
    encoded = pc.dictionary_encode(column).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False), np.array(encoded.dictionary.to_pylist(), dtype=object)


#: Bits of the significand kept by :func:`engine_independent` (about 12 decimal digits).
SIGNIFICANT_BITS = 40


def engine_independent(frame: "pd.DataFrame | np.ndarray") -> "pd.DataFrame | np.ndarray":
    """``frame`` (a frame's float columns, or a float array) rounded to :data:`SIGNIFICANT_BITS`
    bits of significand.

    Engines add floating-point numbers in different orders (DuckDB's threads, Spark's partitions),
    so a sum or mean can differ in its last bits from one engine, or one run, to the next. Models
    fitted on such columns (a tree's split, a tie in a ranking) can then differ where a value
    sits on a boundary. Rounding what a stage collects to fit on makes those values equal; no
    input carries twelve significant digits of information.

    >>> engine_independent(pd.DataFrame({"x": [0.1 + 0.2, 0.3], "n": [1, 2]}))["x"].nunique()
    1
    """
    if isinstance(frame, np.ndarray):
        mantissa, exponent = np.frexp(frame.astype(float))
        return np.ldexp(np.round(mantissa * 2.0**SIGNIFICANT_BITS) / 2.0**SIGNIFICANT_BITS, exponent)
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = engine_independent(out[column].to_numpy(dtype=float))
    return out


__all__ = ["dictionary_codes", "engine_independent"]
