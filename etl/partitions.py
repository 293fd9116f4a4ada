"""Helpers for partitions in flight: what a partition task returns, row ids, hash buckets.

A row read from a source carries ``_tf_row``: while the job runs it holds the partition's
index in its high 32 bits and the record number within the partition in its low 32 bits, so
rows keep an id that survives shuffles. Once every partition's record count is known, the
ids of the rejected rows become record numbers within their file.
"""

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tuskflow.etl.sources import HIDDEN_COLUMNS, REJECT_SCHEMA, Partition

_ROW = "_tf_row"
_SHIFT = 32
_LOW = (1 << _SHIFT) - 1
_NULL_KEY = "\x00null"


@dataclass(frozen=True)
class Piece:
    """One partition after its task: rows kept, rows rejected, records read, rows staged."""

    table: pa.Table
    rejects: pa.Table
    records: int
    rows_written: int = 0

    def summary(self) -> "PieceSummary":
        """Everything but the rows: what the driver fetches while the rows stay on the worker."""
        return PieceSummary(self.rejects, self.records, self.rows_written)


@dataclass(frozen=True)
class PieceSummary:
    """A partition's rejects and counts, without its rows."""

    rejects: pa.Table
    records: int
    rows_written: int


def encode_rows(table: pa.Table, rejects: pa.Table, index: int) -> tuple[pa.Table, pa.Table]:
    """Give the rows and rejects of partition ``index`` ids unique across the job."""
    offset = pa.scalar(index << _SHIFT, pa.int64())
    rows = table.column(_ROW)
    table = table.set_column(table.schema.get_field_index(_ROW), _ROW, pc.add(rows, offset))
    reject_rows = pc.add(rejects.column("row"), offset)
    rejects = rejects.set_column(rejects.schema.get_field_index("row"), "row", reject_rows)
    return table, rejects


def decode_rejects(
    rejects: Sequence[pa.Table], partitions: Sequence[Partition], records: Mapping[int, int]
) -> pa.Table:
    """The rejects with row ids turned into 1-based record numbers within their files."""
    if not rejects:
        return REJECT_SCHEMA.empty_table()
    table = pa.concat_tables(rejects, promote_options="permissive")
    offsets = np.zeros(max((p.index for p in partitions), default=0) + 1, dtype=np.int64)
    seen: dict[str, int] = {}
    for partition in sorted(partitions, key=lambda p: p.index):
        offsets[partition.index] = seen.get(partition.path, 0)
        seen[partition.path] = offsets[partition.index] + records.get(partition.index, 0)
    ids = table.column("row").to_numpy(zero_copy_only=False)
    valid = ~pd.isna(ids)
    numbers = np.full(len(ids), np.nan)
    raw = ids[valid].astype(np.int64)
    numbers[valid] = offsets[raw >> _SHIFT] + (raw & _LOW)
    column = pa.array(numbers, pa.float64(), from_pandas=True).cast(pa.int64())
    return table.set_column(table.schema.get_field_index("row"), "row", column)


def split_by_key(table: pa.Table, *, keys: list[str], buckets: int) -> list[pa.Table]:
    """The rows in ``buckets`` tables by a hash of their key, each in the table's order.

    Keys are hashed as text, so a value hashes the same in every partition whatever else the
    partition holds (pandas would read an int column with a null as floats, and 5.0 does not
    hash like 5).
    """
    names = keys or [name for name in table.column_names if name not in HIDDEN_COLUMNS]
    text = {name: _key_text(table.column(name)) for name in names}
    hashes = pd.util.hash_pandas_object(pd.DataFrame(text), index=False)
    bucket_of = hashes.to_numpy() % np.uint64(buckets)
    order = np.argsort(bucket_of, kind="stable")
    bounds = np.searchsorted(bucket_of[order], np.arange(buckets + 1, dtype=np.uint64))
    taken = table.take(pa.array(order))
    return [taken.slice(start, end - start) for start, end in itertools.pairwise(bounds)]


def _key_text(column: pa.ChunkedArray) -> np.ndarray:
    """A key column as text, nulls as a value no text takes."""
    as_text = pc.cast(column, pa.large_string()).fill_null(_NULL_KEY)
    return np.asarray(as_text.to_numpy(zero_copy_only=False), dtype=object)


def concat_pieces(*pieces: Piece) -> pa.Table:
    """The rows of many pieces as one table, in order."""
    return pa.concat_tables([piece.table for piece in pieces])
