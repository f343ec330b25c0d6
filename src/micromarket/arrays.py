"""Small array helpers shared by stages that turn database columns into NumPy arrays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def dictionary_codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and the distinct values of an Arrow string column.

    Arrow's dictionary encoding handles millions of rows without making a Python string
    per row; ``values[codes]`` gives the column back.
    """
    encoded = pc.dictionary_encode(column).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False), np.array(encoded.dictionary.to_pylist(), dtype=object)


__all__ = ["dictionary_codes"]
