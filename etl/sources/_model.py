"""The records a source hands the engine: partitions, read results and rejected records."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from tuskflow.etl.arrow_types import ARROW_TYPES
from tuskflow.etl.sources._hidden import HIDDEN_COLUMNS
from tuskflow.etl.types import TypeName

REJECT_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("source_file", pa.large_string()),
        pa.field("row", pa.int64()),
        pa.field("reason", pa.large_string()),
        pa.field("record", pa.large_string()),
    ]
)

_FILE_TYPE = pa.dictionary(pa.int32(), pa.large_string())

Ordinals = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Partition:
    """A piece of one file read by one task: a byte range, a row group or the whole file."""

    path: str
    index: int
    byte_start: int = 0
    byte_end: int | None = None
    row_group: int | None = None


@dataclass(frozen=True)
class ReadResult:
    """A partition's good rows (with hidden columns), its rejects and its record count."""

    table: pa.Table
    rejects: pa.Table
    records: int


@dataclass(frozen=True)
class Reject:
    """One record that could not be read: its 1-based number, why, and its raw text."""

    row: int
    reason: str
    record: str


def arrow_schema(schema: dict[str, TypeName]) -> pa.Schema:
    """The arrow schema of a spec schema."""
    return pa.schema([pa.field(name, ARROW_TYPES[kind]) for name, kind in schema.items()])


def all_ordinals(count: int) -> Ordinals:
    """Record numbers 1..count."""
    return np.arange(1, count + 1, dtype=np.int64)


def result(
    path: str, table: pa.Table, ordinals: Ordinals, rejects: Sequence[Reject], records: int
) -> ReadResult:
    """The ReadResult of good rows numbered by ``ordinals`` and the rejects of a partition."""
    rows = table.num_rows
    files = pa.DictionaryArray.from_arrays(
        pa.repeat(pa.scalar(0, pa.int32()), rows), pa.array([path], pa.large_string())
    )
    table = table.append_column(pa.field(HIDDEN_COLUMNS[0], _FILE_TYPE), files)
    table = table.append_column(HIDDEN_COLUMNS[1], pa.array(ordinals, pa.int64()))
    return ReadResult(table, reject_table(path, rejects), records)


def no_columns(rows: int) -> pa.Table:
    """A table of ``rows`` rows and no column, as a job that reads no source column gets."""
    # pa.table({}) and Table.from_arrays([]) have no rows whatever the source held.
    return pa.table({"": pa.nulls(rows)}).select([])


def empty_result(path: str, schema: dict[str, TypeName]) -> ReadResult:
    """The ReadResult of a partition without records."""
    return result(path, arrow_schema(schema).empty_table(), all_ordinals(0), [], 0)


def reject_table(path: str, rejects: Sequence[Reject]) -> pa.Table:
    """Rejects as a table with REJECT_SCHEMA, in record order."""
    ordered = sorted(rejects, key=lambda reject: reject.row)
    return pa.table(
        [
            pa.array([path] * len(ordered), pa.large_string()),
            pa.array([reject.row for reject in ordered], pa.int64()),
            pa.array([reject.reason for reject in ordered], pa.large_string()),
            pa.array([reject.record for reject in ordered], pa.large_string()),
        ],
        schema=REJECT_SCHEMA,
    )
